"""``tagger pretrain``: embeddings and encoder trained on raw text by masked-token prediction.

The text streams: it is read, tokenized with the spaCy front end, shuffled within a buffer
of ``pretrain.shuffle_buffer`` sentences and cut into length-sorted batches, so corpora of
any size pass through in bounded memory. A checkpoint after the buffer that crosses every
``pretrain.checkpoint_every`` steps holds the weights, the optimizer and random state and how
far into the stream training got; ``resume`` skips that far and continues identically.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import torch

from tagger.batching import IGNORE, BatchEncoder, bucket_batches
from tagger.config import MaskedLMConfig, TaggerConfig
from tagger.data import read_source
from tagger.errors import ConfigError
from tagger.locking import hold
from tagger.masking import mask_sentences
from tagger.nn.model import SequenceTagger, build_model
from tagger.runtime import choose_device, seed_everything, set_threads
from tagger.serialize import save_model
from tagger.tokenize import Tokenizer
from tagger.training import (CHECKPOINT, TrainingMonitor, build_optimizer, build_scheduler, check_output_dir, load_checkpoint,
                             save_checkpoint)
from tagger.types import Sentence
from tagger.vocab import Vocab

MAX_LENGTH = 128  # longer sentences (e.g. whole documents on one line) are cut into pieces this long


@dataclass
class PretrainResult:
    output_dir: Path
    steps: int
    seconds: float
    tokens_per_second: float
    dev_scores: dict[str, float]


def stream_sentences(config: TaggerConfig, split: str = "train") -> Iterator[Sentence]:
    """Tokenized sentences of every source of a split, pieces of at most MAX_LENGTH tokens."""
    sources = getattr(config.data, split)
    tokenizer = Tokenizer(config.lang)
    for sentence in tokenizer.tokenize(chain.from_iterable(read_source(source) for source in sources)):
        for start in range(0, len(sentence), MAX_LENGTH):
            yield Sentence(sentence.tokens[start : start + MAX_LENGTH])


def pretrain(config: TaggerConfig, output_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
             monitor: TrainingMonitor | None = None) -> PretrainResult:
    """Train embeddings, encoder and masked-token head on the text of ``config.data.train``.

    ``resume`` and ``overwrite`` as for :func:`tagger.training.train`; the run holds the output's lock.
    """
    output_dir = Path(output_dir)
    with hold(output_dir):
        check_output_dir(output_dir, resume, overwrite)
        return _pretrain(config, output_dir, resume, monitor or TrainingMonitor())


def _pretrain(config: TaggerConfig, output_dir: Path, resume: bool, monitor: TrainingMonitor) -> PretrainResult:
    if not config.data.train:
        raise ConfigError("data.train", "pretraining needs text: a text, JSONL or CoNLL file, a corpus name or a dataset")
    config.masked_lm.weight = config.masked_lm.weight or 1.0
    config.tasks = {}
    settings, plan = config.training, config.pretrain
    if config.embeddings.pretrained:
        raise ConfigError("embeddings.pretrained", "tagger pretrain learns its word table from the text; "
                          "give the vectors to tagger train instead")
    if settings.precision != "fp32":
        raise ConfigError("training.precision", "tagger pretrain trains in fp32; bf16 autocast is for tagger train on CUDA")
    generator = seed_everything(config.seed)
    set_threads(settings.threads)
    device = choose_device(settings.device)
    checkpoint = output_dir / CHECKPOINT
    resuming = resume  # check_output_dir made sure there is a checkpoint

    if resuming:
        vocab = Vocab.from_dict(json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8")))
    else:
        counted = stream_sentences(config)
        vocab = Vocab.build(islice(counted, plan.vocab_sentences or None), (), config.embeddings.min_freq,
                            config.embeddings.lowercase, max_words=config.embeddings.max_words)
        monitor.message(f"vocabulary: {len(vocab.words)} words, {len(vocab.chars)} characters")
    model = build_model(config, vocab).to(device)
    optimizer = build_optimizer(model, settings, device)
    scheduler = build_scheduler(optimizer, _as_steps(settings, plan.max_steps), 1)
    state: dict[str, Any] = {"step": 0, "epoch": 1, "consumed": 0, "seconds": 0.0, "tokens": 0}
    if resuming:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, generator)
        monitor.message(f"resuming at step {state['step']} (epoch {state['epoch']}, {state['consumed']} sentences in)")

    encoder = BatchEncoder.for_embeddings(vocab, config.embeddings)
    dev = list(stream_sentences(config, "dev")) if config.data.dev else []
    started = time.perf_counter() - state["seconds"]
    next_checkpoint = (state["step"] // plan.checkpoint_every + 1) * plan.checkpoint_every
    done = False
    while not done and state["epoch"] <= settings.max_epochs:
        stream = islice(stream_sentences(config), state["consumed"], None)
        monitor.start_epoch(state["epoch"], None)  # the stream's length is unknown
        while buffer := list(islice(stream, plan.shuffle_buffer)):  # stream_sentences gives no empty sentence
            model.train()
            for positions in bucket_batches([len(s) for s in buffer], settings.batch_size, generator):
                loss = _step(model, encoder, [buffer[i] for i in positions], config.masked_lm, generator, optimizer, scheduler, settings.clip_norm, device)
                state["step"] += 1
                tokens = sum(len(buffer[i]) for i in positions)
                state["tokens"] += tokens
                monitor.step(tokens, loss)
                if plan.max_steps and state["step"] >= plan.max_steps:
                    break
            state["consumed"] += len(buffer)
            state["seconds"] = time.perf_counter() - started
            done = bool((plan.max_steps and state["step"] >= plan.max_steps)
                        or (settings.max_minutes and state["seconds"] > settings.max_minutes * 60))
            if not done and state["step"] >= next_checkpoint:  # the end is saved below
                _save(output_dir, model, vocab, config, optimizer, scheduler, generator, state, dev, monitor)
                next_checkpoint = (state["step"] // plan.checkpoint_every + 1) * plan.checkpoint_every
            if done:
                break
        if not done:
            monitor.message(f"epoch {state['epoch']} done at step {state['step']}")
            state.update(epoch=state["epoch"] + 1, consumed=0)
    state["seconds"] = time.perf_counter() - started
    scores = _save(output_dir, model, vocab, config, optimizer, scheduler, generator, state, dev, monitor)
    monitor.close()
    return PretrainResult(output_dir, state["step"], state["seconds"], state["tokens"] / max(state["seconds"], 1e-9), scores)


def _as_steps(settings: Any, max_steps: int) -> Any:
    """The schedule over ``max_steps`` steps when given (as one 'epoch' of that many), else constant after warmup."""
    from dataclasses import replace

    if max_steps:
        return replace(settings, max_epochs=max_steps)
    return replace(settings, schedule="constant" if settings.schedule != "plateau" else "plateau")


def _step(model: SequenceTagger, encoder: BatchEncoder, sentences: list[Sentence], masking: MaskedLMConfig, generator: torch.Generator,
          optimizer: torch.optim.Optimizer, scheduler: Any, clip_norm: float, device: torch.device) -> float:
    masked, targets = mask_sentences(sentences, encoder.vocab, masking, generator)
    batch = encoder.encode(masked, with_targets=False, masked_targets=targets).to(device)
    output = model(batch).get("masked_lm")
    if output is None or output.loss is None:
        return 0.0
    optimizer.zero_grad(set_to_none=True)
    output.loss.backward()
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    scheduler.step()
    return float(output.loss.detach())


def _save(output_dir: Path, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, optimizer: torch.optim.Optimizer,
          scheduler: Any, generator: torch.Generator, state: dict[str, Any], dev: list[Sentence], monitor: TrainingMonitor) -> dict[str, float]:
    """Write the model directory and the checkpoint to resume from; score the dev text if any."""
    scores = masked_lm_scores(model, vocab, dev, config.masked_lm, config.embeddings.max_word_chars) if dev else {}
    meta = {"pretraining": {"steps": state["step"], "epoch": state["epoch"], "seconds": round(state["seconds"], 1),
                            "tokens": state["tokens"], "corpora": [s.path or s.dataset for s in config.data.train]},
            "scores": {"dev": {"masked_lm": scores}} if scores else {}}
    save_model(output_dir, model, vocab, config, meta)
    save_checkpoint(output_dir / CHECKPOINT, model, vocab, config, optimizer, scheduler, generator, state)
    line = f"step {state['step']}: saved"
    if scores:
        line += f"; dev masked-token accuracy {scores['accuracy']:.2%}, perplexity {scores['perplexity']:.1f}"
    monitor.message(line)
    return scores


@torch.inference_mode()
def masked_lm_scores(model: SequenceTagger, vocab: Vocab, sentences: list[Sentence], masking: MaskedLMConfig,
                     max_word_chars: int = 30, seed: int = 0, batch_size: int = 64) -> dict[str, float]:
    """Accuracy and perplexity of masked-token prediction on ``sentences``, blanked with a fixed seed.

    Every chosen token is scored (as in training, 80/10/10 replacement); words outside the
    vocabulary are never chosen, so the figures are over in-vocabulary words.
    """
    if model.masked_lm is None:
        raise ConfigError("masked_lm.weight", "the model has no masked-token head")
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    encoder = BatchEncoder(vocab, max_word_chars)
    total_nll, correct, count = 0.0, 0, 0
    for start in range(0, len(sentences), batch_size):
        masked, targets = mask_sentences(sentences[start : start + batch_size], vocab, masking, generator)
        batch = encoder.encode(masked, with_targets=False, masked_targets=targets)
        gold = batch.targets["masked_lm"]
        chosen = gold != IGNORE
        if not bool(chosen.any()):
            continue
        log_probs = model.masked_lm.log_probs(model.encode(batch)[chosen])
        expected = gold[chosen]
        total_nll -= float(log_probs.gather(1, expected[:, None]).sum())
        correct += int((log_probs.argmax(-1) == expected).sum())
        count += int(expected.numel())
    model.train(was_training)
    if not count:
        return {}
    return {"accuracy": correct / count, "perplexity": math.exp(total_nll / count), "tokens": float(count)}
