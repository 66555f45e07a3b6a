"""The training loop: batches by length, AdamW, clipping, schedule, early stopping, checkpoints, resume."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tagger.batching import MASKED_LM, BatchEncoder, bucket_batches
from tagger.config import TaggerConfig, TrainingConfig
from tagger.data import load_sentences
from tagger.errors import ConfigError
from tagger.evaluation import main_score, score
from tagger.masking import mask_sentences
from tagger.nn.model import SequenceTagger, build_model
from tagger.predict import Tagger
from tagger.pretrained import load_pretrained_words, load_pretrained_vectors
from tagger.runtime import choose_device, seed_everything, set_threads
from tagger.serialize import load_model, load_weights, save_model, save_weights, write_atomic
from tagger.types import Scores, Sentence
from tagger.vocab import Vocab

logger = logging.getLogger(__name__)
CHECKPOINT = "checkpoint"


class TrainingMonitor:
    """Hooks the loop calls; the CLI overrides them to draw progress bars and tables."""

    def start_epoch(self, epoch: int, batches: int | None) -> None: ...
    def step(self, tokens: int, loss: float) -> None: ...
    def end_epoch(self, record: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None:
        logger.info(text)

    def close(self) -> None: ...


@dataclass
class TrainResult:
    output_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    dev_scores: Scores = field(default_factory=dict)
    test_scores: Scores = field(default_factory=dict)
    seconds: float = 0.0
    train_tokens_per_second: float = 0.0


def train(config: TaggerConfig, output_dir: str | Path, *, resume: bool = False, monitor: TrainingMonitor | None = None) -> TrainResult:
    """Train a model as the config says; write the best one to ``output_dir``.

    Args:
        config: the resolved config.
        output_dir: the model directory (created); ``checkpoint/`` inside holds the
            state to resume from.
        resume: continue from ``output_dir/checkpoint`` if it exists.
        monitor: receives progress; by default only logs.
    """
    monitor = monitor or TrainingMonitor()
    output_dir = Path(output_dir)
    settings = config.training
    generator = seed_everything(config.seed)
    set_threads(settings.threads)
    device = choose_device(settings.device)

    train_sentences = [s for s in load_sentences(config.data.train, config.tasks, config.data.max_train_sentences) if s.tokens and s.tags]
    dev_sentences = load_sentences(config.data.dev, config.tasks) if config.data.dev else []
    monitor.message(f"{len(train_sentences)} training sentences ({sum(map(len, train_sentences))} tokens), {len(dev_sentences)} dev")

    checkpoint = output_dir / CHECKPOINT
    resuming = resume and (checkpoint / "trainer.pt").is_file()
    base = None
    if config.init_from:
        base = load_model(config.init_from)
        take_architecture(config, base[2])
        monitor.message(f"starting from {config.init_from}: its embeddings and encoder ({len(base[1].words)} words)")
    vocab = _load_or_build_vocab(config, train_sentences, checkpoint if resuming else None, base[1] if base else None)
    model = build_model(config, vocab)
    if base is not None and not resuming:
        copied = copy_pretrained(base[0], model)
        monitor.message(f"copied {copied} pretrained tensors")
    if config.embeddings.pretrained and not resuming:
        found = load_pretrained_vectors(config.embeddings.pretrained, vocab, model.embeddings.words.weight)
        monitor.message(f"pretrained vectors for {found} of {len(vocab.words)} words")
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, betas=tuple(settings.betas), weight_decay=settings.weight_decay)  # type: ignore[arg-type]
    scheduler = build_scheduler(optimizer, settings, math.ceil(len(train_sentences) / settings.batch_size))

    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "bad_epochs": 0, "records": [], "seconds": 0.0}
    if resuming:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, generator)
        monitor.message(f"resuming after epoch {state['epoch']}")
    elif checkpoint.exists():
        monitor.message(f"{checkpoint} exists and will be replaced (use --resume to continue it)")

    step = _Step(model, BatchEncoder(vocab, config.embeddings.max_word_chars), optimizer, scheduler, config, device, monitor, generator)
    evaluator = Tagger(model, vocab, config)
    lengths = [len(s) for s in train_sentences]
    started = time.perf_counter() - state["seconds"]
    trained_tokens, train_seconds = 0, 0.0
    for epoch in range(state["epoch"] + 1, settings.max_epochs + 1):
        batches = bucket_batches(lengths, settings.batch_size, generator)
        monitor.start_epoch(epoch, len(batches))
        epoch_start = time.perf_counter()
        total_loss, epoch_tokens = step.epoch([[train_sentences[i] for i in batch] for batch in batches])
        epoch_seconds = time.perf_counter() - epoch_start
        trained_tokens, train_seconds = trained_tokens + epoch_tokens, train_seconds + epoch_seconds
        dev_scores = _evaluate(evaluator, dev_sentences, config) if dev_sentences else {}
        current = main_score(dev_scores, settings.select_by) if dev_scores else float(epoch)  # without dev data, the last epoch is best
        if settings.schedule == "plateau":
            scheduler.step(current)
        improved = current > state["best"]
        record = {
            "epoch": epoch,
            "train_loss": total_loss / max(len(batches), 1),
            "learning_rate": optimizer.param_groups[0]["lr"],
            "tokens_per_second": epoch_tokens / epoch_seconds,
            "seconds": epoch_seconds,
            "dev": {task: s.to_dict() for task, s in dev_scores.items()},
            "dev_main": current if dev_scores else None,
            "best": improved,
        }
        state["records"].append(record)
        state.update(epoch=epoch, seconds=time.perf_counter() - started)
        if improved:
            state.update(best=current, best_epoch=epoch, bad_epochs=0)
            save_model(output_dir, model, vocab, config, _meta(config, state, dev_scores))
        else:
            state["bad_epochs"] += 1
        write_atomic(output_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state["records"]))
        save_checkpoint(checkpoint, model, vocab, optimizer, scheduler, generator, state)
        monitor.end_epoch(record)
        if settings.patience and state["bad_epochs"] >= settings.patience:
            monitor.message(f"stopping early: no dev improvement for {settings.patience} epochs")
            break
        if settings.max_minutes and state["seconds"] > settings.max_minutes * 60:
            monitor.message(f"stopping: the {settings.max_minutes}-minute budget is spent")
            break
    monitor.close()
    return _finish(config, output_dir, device, state, dev_sentences, trained_tokens / train_seconds if train_seconds else 0.0)


def _load_or_build_vocab(config: TaggerConfig, sentences: list[Sentence], checkpoint: Path | None, base: Vocab | None = None) -> Vocab:
    """The checkpoint's vocabulary when resuming, else one counted from the training data
    (after the words of ``base``, a pretrained model's vocabulary, when starting from one)."""
    if checkpoint is not None:
        return Vocab.from_dict(json.loads((checkpoint / "vocab.json").read_text(encoding="utf-8")))
    extra = load_pretrained_words(config.embeddings.pretrained) if config.embeddings.pretrained else []
    embeddings = config.embeddings
    vocab = Vocab.build(sentences, config.tasks, embeddings.min_freq, embeddings.lowercase, extra, embeddings.max_words, base)
    unlabelled = [task for task, labels in vocab.labels.items() if not len(labels)]
    if unlabelled:
        raise ConfigError("tasks." + unlabelled[0], "no training sentence has labels for this task; "
                          "map it to a column of the corpus, e.g. data.train = { path = ..., columns = { upos = 1 } }")
    return vocab


def _finish(config: TaggerConfig, output_dir: Path, device: torch.device, state: dict[str, Any],
            dev_sentences: list[Sentence], tokens_per_second: float) -> TrainResult:
    """Score the best model on dev and test, record the scores in meta.json, draw the learning curve."""
    best = Tagger.load(output_dir, device=str(device))
    best_dev = _evaluate(best, dev_sentences, config) if dev_sentences else {}
    test_sentences = load_sentences(config.data.test, config.tasks) if config.data.test else []
    test_scores = _evaluate(best, test_sentences, config) if test_sentences else {}
    meta = _meta(config, state, best_dev, test_scores, tokens_per_second)
    write_atomic(output_dir / "meta.json", json.dumps({**best.meta, **meta}, indent=2))
    try:
        from tagger.plots import plot_learning_curve

        plot_learning_curve(state["records"], output_dir / "learning_curve.png")
    except ImportError:  # matplotlib is a dependency, but a broken install should not lose the model
        logger.warning("matplotlib unavailable: no learning curve written")
    return TrainResult(output_dir, state["best_epoch"], state["records"], best_dev, test_scores, state["seconds"], tokens_per_second)


class _Step:
    """One optimisation step per batch: encode, forward, weighted task losses, backward, clip, update."""

    def __init__(self, model: SequenceTagger, encoder: BatchEncoder, optimizer: torch.optim.Optimizer, scheduler: Any,
                 config: TaggerConfig, device: torch.device, monitor: TrainingMonitor, generator: torch.Generator) -> None:
        self.model, self.encoder, self.optimizer, self.scheduler = model, encoder, optimizer, scheduler
        self.settings, self.weights = config.training, {task: t.weight for task, t in config.tasks.items()}
        self.masking = config.masked_lm if config.masked_lm.weight > 0 else None
        self.weights[MASKED_LM] = config.masked_lm.weight
        self.device, self.monitor, self.generator = device, monitor, generator

    def epoch(self, batches: list[list[Sentence]]) -> tuple[float, int]:
        """Train on every batch once; returns the summed loss and the number of tokens."""
        self.model.train()
        total_loss = torch.zeros((), device=self.device)
        tokens = 0
        for sentences in batches:
            loss = self.batch(sentences)
            if loss is None:
                continue
            total_loss += loss
            tokens += sum(len(s) for s in sentences)
            # Reading the loss forces a device sync: only on CPU, where it costs nothing.
            self.monitor.step(sum(len(s) for s in sentences), float(loss) if self.device.type == "cpu" else 0.0)
        return float(total_loss), tokens

    def batch(self, sentences: list[Sentence]) -> torch.Tensor | None:
        """One update on one batch (blanked for masked-token prediction when that is on); the detached loss."""
        targets = None
        if self.masking is not None:
            sentences, targets = mask_sentences(sentences, self.encoder.vocab, self.masking, self.generator)
        batch = self.encoder.encode(sentences, masked_targets=targets).to(self.device)
        losses = [self.weights[task] * out.loss for task, out in self.model(batch).items() if out.loss is not None]
        if not losses:
            return None
        loss = torch.stack(losses).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_norm)
        self.optimizer.step()
        if self.settings.schedule != "plateau":
            self.scheduler.step()
        return loss.detach()


def _evaluate(tagger: Tagger, sentences: list[Sentence], config: TaggerConfig) -> Scores:
    was_training = tagger.model.training
    tagger.model.eval()
    predictions = list(tagger.predict_sentences(sentences, config.training.eval_batch_size))
    tagger.model.train(was_training)
    return score(sentences, predictions, config.tasks)


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TrainingConfig, steps_per_epoch: int) -> Any:
    if settings.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2)
    total = max(settings.max_epochs * steps_per_epoch, 1)
    warmup = max(settings.warmup_steps, 0)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        if settings.schedule == "linear":
            return max(1.0 - progress, 0.0)
        if settings.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _meta(config: TaggerConfig, state: dict[str, Any], dev: Scores, test: Scores | None = None, tokens_per_second: float | None = None) -> dict[str, Any]:
    corpora = {split: [s.path or f"{s.dataset}:{s.split}" for s in sources]
               for split, sources in (("train", config.data.train), ("dev", config.data.dev), ("test", config.data.test)) if sources}
    meta: dict[str, Any] = {
        "corpora": corpora,
        "training": {"best_epoch": state["best_epoch"], "epochs": state["epoch"], "seconds": round(state["seconds"], 1)},
        "scores": {"dev": {t: s.to_dict() for t, s in dev.items()}},
    }
    if test is not None:
        meta["scores"]["test"] = {t: s.to_dict() for t, s in test.items()}
    if tokens_per_second is not None:
        meta["training"]["train_tokens_per_second"] = round(tokens_per_second)
    return meta


def save_checkpoint(directory: Path, model: SequenceTagger, vocab: Vocab, optimizer: torch.optim.Optimizer,
                     scheduler: Any, generator: torch.Generator, state: dict[str, Any]) -> None:
    """Everything to continue training: last weights, optimizer, schedule, data order and RNG states."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "vocab.json", json.dumps(vocab.to_dict(), ensure_ascii=False))
    save_weights(model, directory / "last.safetensors")
    trainer = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "state": json.dumps(state),
    }
    temporary = directory / "trainer.pt.tmp"
    torch.save(trainer, temporary)
    temporary.replace(directory / "trainer.pt")


def load_checkpoint(directory: Path, model: SequenceTagger, optimizer: torch.optim.Optimizer, scheduler: Any,
                     generator: torch.Generator) -> dict[str, Any]:
    load_weights(model, directory / "last.safetensors")
    trainer = torch.load(directory / "trainer.pt", weights_only=True)  # tensors and plain containers only
    optimizer.load_state_dict(trainer["optimizer"])
    scheduler.load_state_dict(trainer["scheduler"])
    generator.set_state(trainer["generator"])
    torch.set_rng_state(trainer["torch_rng"])
    return json.loads(trainer["state"])


# Settings that shape the pretrained tensors: a model started from another takes them over.
ARCHITECTURE = {"embeddings": ("word_dim", "lowercase", "char_encoder", "char_dim", "char_hidden", "char_kernel", "max_word_chars"),
                "encoder": ("kind", "hidden_size", "num_layers")}


def take_architecture(config: TaggerConfig, pretrained: TaggerConfig) -> None:
    """Set the config's embedding and encoder shapes to the pretrained model's (dropout etc. stay)."""
    for section, keys in ARCHITECTURE.items():
        for key in keys:
            value = getattr(getattr(pretrained, section), key)
            if getattr(getattr(config, section), key) != value:
                logger.info("init_from: %s.%s = %r (the pretrained model's)", section, key, value)
                setattr(getattr(config, section), key, value)


def copy_pretrained(source: SequenceTagger, target: SequenceTagger) -> int:
    """Copy the embeddings and encoder of ``source`` into ``target``; returns the tensors copied.

    Embedding tables copy the rows of the pretrained vocabulary, which comes first in the
    target's (see ``Vocab.build(base=...)``); new words keep their fresh initialisation.
    """
    copied = 0
    for part in ("embeddings", "encoder"):
        theirs = getattr(source, part).state_dict()
        with torch.no_grad():
            for name, tensor in getattr(target, part).state_dict().items():
                pretrained = theirs.get(name)
                if pretrained is None:
                    continue
                if pretrained.shape == tensor.shape:
                    tensor.copy_(pretrained)
                elif pretrained.shape[1:] == tensor.shape[1:] and pretrained.shape[0] <= tensor.shape[0]:
                    tensor[: pretrained.shape[0]].copy_(pretrained)
                else:
                    raise ConfigError("init_from", f"{part}.{name} has shape {tuple(pretrained.shape)} there and {tuple(tensor.shape)} here")
                copied += 1
    return copied
