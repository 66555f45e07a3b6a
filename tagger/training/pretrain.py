"""``tagger pretrain``: embeddings and encoder trained on raw text by masked-token prediction.

The text streams: it is read, tokenized with the spaCy front end, cut as the predictor cuts long
inputs (:func:`tagger.core.tokenize.pieces`), shuffled within a buffer of ``pretrain.shuffle_buffer``
sentences and cut into length-sorted batches, so corpora of any size pass through in bounded
memory. Each batch is one :class:`tagger.training.step.TrainStep`, as in ``tagger train``. A
checkpoint after the buffer that crosses every ``pretrain.checkpoint_every`` steps holds the
weights, the optimizer and random state and how far into the stream training got; ``resume``
skips that far and continues identically.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from itertools import chain, islice
from pathlib import Path

from tagger.analysis.evaluation import evaluate
from tagger.core.batching import MASKED_LM, BatchEncoder, bucket_batches
from tagger.core.config import TaggerConfig
from tagger.core.errors import ConfigError, TaggerError, writing
from tagger.core.runtime import choose_device, seed_everything, set_threads
from tagger.core.tokenize import LONG_SENTENCE, Tokenizer, pieces
from tagger.core.types import Sentence
from tagger.core.vocab import Vocab
from tagger.data import read_source
from tagger.files.locking import hold
from tagger.model.predict import Tagger
from tagger.model.serialize import save_model
from tagger.nn.model import build_model
from tagger.training.checkpoint import CHECKPOINT, check_output_dir, checkpoint_vocab, load_checkpoint, save_checkpoint
from tagger.training.monitor import TrainingMonitor
from tagger.training.step import TrainingDiverged, TrainStep, build_optimizer, build_scheduler


@dataclass
class PretrainResult:
    output_dir: Path
    steps: int
    seconds: float
    tokens_per_second: float
    dev_scores: dict[str, float]


@dataclass
class PretrainState:
    """How far pretraining got in the stream: saved in its checkpoint (as JSON)."""

    step: int = 0
    epoch: int = 1
    consumed: int = 0  # sentences of this epoch's stream trained on
    seconds: float = 0.0
    tokens: int = 0
    pieces: str = ""  # how the stream was cut (PIECES): a resume must cut it the same way


PIECES = f"sentences of at most {LONG_SENTENCE} tokens"  # what stream_sentences gives (tagger.core.tokenize.pieces)


def stream_sentences(config: TaggerConfig, split: str = "train") -> Iterator[Sentence]:
    """Tokenized sentences of every source of a split, long ones in pieces as the predictor labels them."""
    sources = getattr(config.data, split)
    for sentence in Tokenizer(config.lang).tokenize(chain.from_iterable(read_source(source) for source in sources)):
        for start, end in pieces(sentence):
            yield Sentence(sentence.tokens[start:end])


def pretrain(config: TaggerConfig, output_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
             monitor: TrainingMonitor | None = None) -> PretrainResult:
    """Train embeddings, encoder and masked-token head on the text of ``config.data.train``.

    ``resume`` and ``overwrite`` as for :func:`tagger.training.train`; the run holds the output's lock.
    The model has no tasks and a masked-token head (weight 1 unless the config gives one), whatever
    ``config`` says; ``config`` itself is not changed.
    """
    output_dir = Path(output_dir)
    monitor = monitor or TrainingMonitor()
    with hold(output_dir):
        check_output_dir(output_dir, resume, overwrite)
        try:
            return _pretrain(config, output_dir, resume, monitor)
        finally:  # the progress display ends on an error too
            monitor.close()


def _pretrain(config: TaggerConfig, output_dir: Path, resume: bool, monitor: TrainingMonitor) -> PretrainResult:
    if not config.data.train:
        raise ConfigError("data.train", "pretraining needs text: a text, JSONL or CoNLL file, a corpus name or a dataset")
    if config.embeddings.pretrained:
        raise ConfigError("embeddings.pretrained", "tagger pretrain learns its word table from the text; "
                          "give the vectors to tagger train instead")
    if config.training.precision != "fp32":
        raise ConfigError("training.precision", "tagger pretrain trains in fp32; bf16 autocast is for tagger train on CUDA")
    config = replace(config, tasks={}, masked_lm=replace(config.masked_lm, weight=config.masked_lm.weight or 1.0))
    settings, plan = config.training, config.pretrain
    generator = seed_everything(config.seed)
    set_threads(settings.threads)
    device = choose_device(settings.device)
    checkpoint = output_dir / CHECKPOINT
    if resume:  # check_output_dir made sure there is a checkpoint
        vocab = checkpoint_vocab(checkpoint)
    else:
        counted = stream_sentences(config)
        vocab = Vocab.build(islice(counted, plan.vocab_sentences or None), (), config.embeddings.min_freq,
                            config.embeddings.lowercase, max_words=config.embeddings.max_words)
        monitor.message(f"vocabulary: {len(vocab.words)} words, {len(vocab.chars)} characters")
    model = build_model(config, vocab).to(device)
    optimizer = build_optimizer(model, settings, device)
    scheduler = build_scheduler(optimizer, settings, total_steps=plan.max_steps or None)
    state = PretrainState(pieces=PIECES)
    if resume:
        state = PretrainState(**{"pieces": "every 128 tokens", **load_checkpoint(checkpoint, model, optimizer, scheduler, generator,
                                                                                 monitor.message)})
        if state.pieces != PIECES:  # the stream would be cut otherwise, and resume at another place in it
            raise TaggerError(f"cannot resume {output_dir}: its checkpoint cut the text {state.pieces}, this version cuts it into "
                              f"{PIECES}; pretrain again without --resume (with --overwrite)")
        monitor.message(f"resuming at step {state.step} (epoch {state.epoch}, {state.consumed} sentences in)")

    step = TrainStep(model, BatchEncoder.for_embeddings(vocab, config.embeddings), optimizer, scheduler, config, device, monitor, generator,
                     weights={MASKED_LM: 1.0})
    tagger = Tagger(model, vocab, config)
    dev = list(stream_sentences(config, "dev")) if config.data.dev else []
    started = time.perf_counter() - state.seconds
    next_checkpoint = (state.step // plan.checkpoint_every + 1) * plan.checkpoint_every
    saved = state.step if resume else None  # the step of the checkpoint in output_dir
    done = False
    while not done and state.epoch <= settings.max_epochs:
        stream = islice(stream_sentences(config), state.consumed, None)
        monitor.start_epoch(state.epoch, None)  # the stream's length is unknown
        while buffer := list(islice(stream, plan.shuffle_buffer)):  # stream_sentences gives no empty sentence
            model.train()
            for positions in bucket_batches([len(s) for s in buffer], settings.batch_size, generator):
                try:
                    loss = step.batch([buffer[i] for i in positions], f"epoch {state.epoch}, step {state.step + 1}")
                except TrainingDiverged as error:
                    raise TrainingDiverged(f"{error}. {_kept(output_dir, saved)}") from None
                state.step += 1
                tokens = sum(len(buffer[i]) for i in positions)
                state.tokens += tokens
                monitor.step(tokens, float(loss) if loss is not None else 0.0)
                if plan.max_steps and state.step >= plan.max_steps:
                    break
            state.consumed += len(buffer)
            state.seconds = time.perf_counter() - started
            done = bool((plan.max_steps and state.step >= plan.max_steps)
                        or (settings.max_minutes and state.seconds > settings.max_minutes * 60))
            if not done and state.step >= next_checkpoint:  # the end is saved below
                _save(output_dir, tagger, step, state, dev, monitor, saved)
                saved, next_checkpoint = state.step, (state.step // plan.checkpoint_every + 1) * plan.checkpoint_every
            if done:
                break
        if not done:
            monitor.message(f"epoch {state.epoch} done at step {state.step}")
            state.epoch, state.consumed = state.epoch + 1, 0
    state.seconds = time.perf_counter() - started
    scores = _save(output_dir, tagger, step, state, dev, monitor, saved)
    monitor.close()
    return PretrainResult(output_dir, state.step, state.seconds, state.tokens / max(state.seconds, 1e-9), scores)


def _kept(output_dir: Path, saved: int | None) -> str:
    """What a pretraining that diverged leaves: what was saved before (finite)."""
    if saved is None:
        return "Nothing of this run was saved."
    return f"Kept from before: the model and checkpoint of step {saved} in {output_dir}; change what made it diverge and train again."


def _save(output_dir: Path, tagger: Tagger, step: TrainStep, state: PretrainState, dev: list[Sentence], monitor: TrainingMonitor,
          saved: int | None) -> dict[str, float]:
    """Write the model directory and the checkpoint to resume from (``saved``: the step of the one
    there now, if any); score the dev text if any. Nothing is written of weights that are not finite."""
    try:
        step.check(f"step {state.step}")
    except TrainingDiverged as error:
        raise TrainingDiverged(f"{error}. {_kept(output_dir, saved)}") from None
    config = tagger.config
    found = evaluate(tagger, dev, masking=config.masked_lm).get(MASKED_LM) if dev else None
    scores = found.metrics if found else {}
    meta = {"pretraining": {"steps": state.step, "epoch": state.epoch, "seconds": round(state.seconds, 1),
                            "tokens": state.tokens, "corpora": [s.path or s.dataset for s in config.data.train]},
            "scores": {"dev": {MASKED_LM: scores}} if scores else {}}
    then = (f"The checkpoint of step {saved} in {output_dir / CHECKPOINT} is whole: free space (or fix the cause), then rerun with "
            "--resume to go on from there" if saved is not None else
            f"No checkpoint was written yet: free space (or fix the cause), then pretrain again into {output_dir} with --overwrite")
    with writing(output_dir / "model.safetensors", then):
        save_model(output_dir, tagger.model, tagger.vocab, config, meta)
    with writing(output_dir / CHECKPOINT, then):
        save_checkpoint(output_dir / CHECKPOINT, tagger.model, tagger.vocab, config, step.optimizer, step.scheduler, step.generator,
                        asdict(state))
    line = f"step {state.step}: saved"
    if scores:
        line += f"; dev masked-token accuracy {scores['accuracy']:.2%}, perplexity {scores['perplexity']:.1f}"
    monitor.message(line)
    return scores
