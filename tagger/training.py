"""The training loop: batches by length, AdamW, clipping, schedule, early stopping, checkpoints, resume."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tagger.batching import CHAR_LM, IGNORE, MASKED_LM, BatchEncoder, bucket_batches
from tagger.config import TaggerConfig, TaskConfig, TrainingConfig, changed_keys
from tagger.data import load_sentences
from tagger.distributed import Group, is_main_process, local_device, process_group
from tagger.errors import ConfigError, TaggerError
from tagger.evaluation import main_score, score, unseen_labels
from tagger.locking import hold
from tagger.masking import mask_sentences
from tagger.nn.model import SequenceTagger, build_model
from tagger.predict import Tagger
from tagger.pretrained import build_vocabulary, coverage, describe
from tagger.runtime import choose_device, cores_per_process, seed_everything, set_threads
from tagger.atomic import write_atomic
from tagger.serialize import load_model, load_weights, save_model, save_weights
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


class _Quiet(TrainingMonitor):
    """The monitor of ranks other than 0 in distributed training: they train but do not report."""

    def message(self, text: str) -> None: ...


@dataclass
class TrainResult:
    output_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    dev_scores: Scores = field(default_factory=dict)
    test_scores: Scores = field(default_factory=dict)
    seconds: float = 0.0
    train_tokens_per_second: float = 0.0


def train(config: TaggerConfig, output_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
          monitor: TrainingMonitor | None = None) -> TrainResult:
    """Train a model as the config says; write the best one to ``output_dir``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process calls this and together
    they train one model (see :mod:`tagger.distributed`): ``training.batch_size`` is the batch of all
    processes together, rank 0 alone writes ``output_dir`` and reports to ``monitor``, and every rank
    returns rank 0's result.

    Args:
        config: the resolved config.
        output_dir: the model directory (created); ``checkpoint/`` inside holds the
            state to resume from.
        resume: continue from ``output_dir/checkpoint`` (an error when there is none).
        overwrite: train into a directory that already holds a model, replacing it (else an error).
        monitor: receives progress; by default only logs.

    The run holds ``output_dir``'s lock (:mod:`tagger.locking`): a second run into it is refused.
    """
    output_dir = Path(output_dir)
    device = local_device(choose_device(config.training.device))
    if config.training.precision == "bf16" and device.type != "cuda":
        # Not a silent fallback: config.json must say how the model was really trained.
        raise ConfigError("training.precision", f'"bf16" is autocast on CUDA and this run is on {device}; use "fp32" here')
    with hold(output_dir) if is_main_process() else nullcontext():
        if is_main_process():
            check_output_dir(output_dir, resume, overwrite)
        with process_group(device) as group:
            monitor = (monitor or TrainingMonitor()) if group.is_main else _Quiet()
            return _train(config, output_dir, resume, monitor, device, group)


def check_output_dir(output_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to resume without a checkpoint, and to train into another model's directory unless ``overwrite``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise TaggerError(f"{output_dir} is a file, not a model directory")
    if resume:
        if not (output_dir / CHECKPOINT / "trainer.pt").is_file():
            raise TaggerError(f"nothing to resume in {output_dir}: it has no {CHECKPOINT}/trainer.pt (train without --resume to start)")
        return
    held = [name for name in ("model.safetensors", "config.json", CHECKPOINT) if (output_dir / name).exists()]
    if held and not overwrite:
        raise TaggerError(f"{output_dir} already holds a model ({', '.join(held)}): --resume continues its training, "
                          "--overwrite replaces it, or choose another output directory")


def _train(config: TaggerConfig, output_dir: Path, resume: bool, monitor: TrainingMonitor, device: torch.device, group: Group) -> TrainResult:
    settings = config.training
    generator = seed_everything(config.seed)
    set_threads(settings.threads or (cores_per_process(group.local_world_size) if group.active else 0))

    train_sentences = [s for s in load_sentences(config.data.train, config.tasks, config.data.max_train_sentences) if s.tokens and s.tags]
    dev_sentences = load_sentences(config.data.dev, config.tasks) if config.data.dev and group.is_main else []  # rank 0 evaluates
    monitor.message(f"{len(train_sentences)} training sentences ({sum(map(len, train_sentences))} tokens), {len(dev_sentences)} dev")
    if group.active:
        monitor.message(f"{group.world_size} processes ({group.backend}; torch threads per process: {torch.get_num_threads()}), "
                        f"each taking 1/{group.world_size} of every batch of {settings.batch_size} sentences")

    checkpoint = output_dir / CHECKPOINT
    resuming = group.broadcast(resume)  # check_output_dir made sure rank 0 has a checkpoint
    if resuming and not (checkpoint / "trainer.pt").is_file():
        raise TaggerError(f"rank {group.rank} cannot see {checkpoint}: to resume, every machine needs the model directory "
                          "on a file system they share, at the same path")
    base = None
    if config.init_from:
        base = load_model(config.init_from)
        take_architecture(config, base.config)
        monitor.message(f"starting from {config.init_from}: its embeddings and encoder ({len(base.vocab.words)} words)")
    base_vocab = base.vocab if base else None
    vocab, vectors = group.from_main(lambda: build_vocabulary(config, train_sentences, checkpoint if resuming else None, base_vocab))
    if vectors is not None:
        config.embeddings.word_dim = vectors.dim  # checked against an explicit word_dim already
    if resuming:
        check_resumed_config(config, checkpoint, monitor)
    model = build_model(config, vocab).to(device)
    if base is not None and not resuming:
        copied = copy_pretrained(base.model, model)
        monitor.message(f"copied {copied} pretrained tensors")
    vectors_report, frozen = None, []
    if vectors is not None:
        vectors_report = {**coverage(train_sentences, vocab, vectors), "frozen": config.embeddings.freeze_vectors}
        monitor.message(describe(vectors_report, vocab, vectors.seconds))
        table = model.embeddings.words.weight
        vectors.start(table, fill=not resuming, freeze=config.embeddings.freeze_vectors)
        frozen = [table] if config.embeddings.freeze_vectors else []
    optimizer = build_optimizer(model, settings, device, no_decay=frozen)
    scheduler = build_scheduler(optimizer, settings, math.ceil(len(train_sentences) / settings.batch_size))

    state: dict[str, Any] = {"epoch": 0, "best": -1.0, "best_epoch": 0, "bad_epochs": 0, "records": [], "seconds": 0.0,
                             "vectors": vectors_report}
    if resuming:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, generator)  # every rank: rank 0's checkpoint
        monitor.message(f"resuming after epoch {state['epoch']}")
    if group.active:
        # The data order and masking (``generator``) stay the same on every rank; dropout should not.
        torch.manual_seed(int(torch.randint(2**62, ())) + group.rank)

    trained = group.wrap(model, device, find_unused_parameters=_heads_may_lack_targets(config, train_sentences))
    step = _Step(trained, BatchEncoder.for_embeddings(vocab, config.embeddings), optimizer, scheduler, config, device, monitor, generator, group)
    evaluator = Tagger(model, vocab, config) if group.is_main else None
    lengths = [len(s) for s in train_sentences]
    started = time.perf_counter() - state["seconds"]
    trained_tokens, train_seconds = 0, 0.0
    for epoch in range(state["epoch"] + 1, settings.max_epochs + 1):
        batches = bucket_batches(lengths, settings.batch_size, generator)  # the same on every rank
        monitor.start_epoch(epoch, len(batches))
        epoch_start = time.perf_counter()
        total_loss, epoch_tokens = step.epoch([[train_sentences[i] for i in batch] for batch in batches])
        epoch_seconds = time.perf_counter() - epoch_start
        trained_tokens, train_seconds = trained_tokens + epoch_tokens, train_seconds + epoch_seconds
        dev_scores = _evaluate(evaluator, dev_sentences, config) if evaluator and dev_sentences else {}
        # without dev data, the last epoch is best
        current = group.broadcast(main_score(dev_scores, settings.select_by) if dev_scores else float(epoch))
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
        else:
            state["bad_epochs"] += 1
        if group.is_main:
            if improved:
                save_model(output_dir, model, vocab, config, _meta(config, state, dev_scores))
            write_atomic(output_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state["records"]))
            save_checkpoint(checkpoint, model, vocab, config, optimizer, scheduler, generator, state)
        monitor.end_epoch(record)
        stop = group.broadcast(_stop_reason(settings, state))  # rank 0's clock decides the time budget
        if stop:
            monitor.message(stop)
            break
    monitor.close()
    tokens_per_second = trained_tokens / train_seconds if train_seconds else 0.0
    return group.from_main(lambda: _finish(config, output_dir, device, state, dev_sentences, tokens_per_second))


def _stop_reason(settings: TrainingConfig, state: dict[str, Any]) -> str:
    """Why training stops after this epoch, or "" to go on."""
    if settings.patience and state["bad_epochs"] >= settings.patience:
        return f"stopping early: no dev improvement for {settings.patience} epochs"
    if settings.max_minutes and state["seconds"] > settings.max_minutes * 60:
        return f"stopping: the {settings.max_minutes}-minute budget is spent"
    return ""


def _heads_may_lack_targets(config: TaggerConfig, sentences: list[Sentence]) -> bool:
    """Whether some head can get no targets in one rank's share of a batch, so that DDP must look
    for parameters without gradients: the masked-token head (few tokens are chosen), or a task
    that some training sentences have no labels for."""
    return config.masked_lm.weight > 0 or any(not s.tags.get(task) for s in sentences for task in config.tasks)


def _finish(config: TaggerConfig, output_dir: Path, device: torch.device, state: dict[str, Any],
            dev_sentences: list[Sentence], tokens_per_second: float) -> TrainResult:
    """Score the best model on dev and test, record the scores in meta.json, draw the learning curve."""
    loaded = load_model(output_dir, device)
    best = Tagger(loaded.model, loaded.vocab, loaded.config, loaded.meta)  # not Tagger.load: it would warn that training has not finished
    best_dev = _evaluate(best, dev_sentences, config) if dev_sentences else {}
    test_sentences = load_sentences(config.data.test, config.tasks) if config.data.test else []
    known = {task: best.vocab.labels[task].ids for task in config.tasks}
    for split, sentences in (("dev", dev_sentences), ("test", test_sentences)):
        if unseen := unseen_labels(sentences, known, config.tasks):
            logger.warning("%s: %s", split, unseen)
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

    def __init__(self, model: torch.nn.Module, encoder: BatchEncoder, optimizer: torch.optim.Optimizer, scheduler: Any,
                 config: TaggerConfig, device: torch.device, monitor: TrainingMonitor, generator: torch.Generator,
                 group: Group = Group()) -> None:
        self.model, self.encoder, self.optimizer, self.scheduler = model, encoder, optimizer, scheduler
        self.settings, self.weights = config.training, {task: t.weight for task, t in config.tasks.items()}
        self.tasks = config.tasks
        self.masking = config.masked_lm if config.masked_lm.weight > 0 else None
        self.weights[MASKED_LM] = config.masked_lm.weight
        self.weights[CHAR_LM] = config.char_lm.weight
        self.char_lm = encoder if config.char_lm.weight > 0 else None
        self.device, self.monitor, self.generator, self.group = device, monitor, generator, group

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
        # Each rank's losses are scaled so that their mean over the ranks is the loss of the whole batch.
        return self.group.sum(float(total_loss)) / self.group.world_size, tokens

    def batch(self, sentences: list[Sentence]) -> torch.Tensor | None:
        """One update on one batch; the detached loss, or None when nothing in the batch is labelled."""
        loss = self.loss(sentences)
        if loss is None:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_norm)
        self.optimizer.step()
        if self.settings.schedule != "plateau":
            self.scheduler.step()
        return loss.detach()

    def loss(self, sentences: list[Sentence]) -> torch.Tensor | None:
        """The weighted sum of the task losses on one batch (blanked for masked-token prediction when
        that is on); None when nothing in the batch is labelled.

        In distributed training ``sentences`` is the whole batch, and the loss is that of this rank's
        share with each task's loss scaled by :func:`share_scales`.
        """
        targets = None
        if self.masking is not None:
            # The whole batch on every rank: the generator, which also orders the data, stays in step.
            sentences, targets = mask_sentences(sentences, self.encoder.vocab, self.masking, self.generator)
        scales = None
        if self.group.active:
            shared = share_scales(sentences, targets, self.encoder.vocab, self.tasks, self.group, self.char_lm)
            if shared is None:
                return None  # the same on every rank: they all skip the batch
            sentences, targets, scales = shared
        batch = self.encoder.encode(sentences, masked_targets=targets).to(self.device)
        with self._autocast():
            outputs = self.model(batch)
            if scales is None:
                losses = [self.weights[task] * out.loss for task, out in outputs.items() if out.loss is not None]
            else:
                losses = [self.weights[task] * scales[task] * out.loss for task, out in outputs.items() if out.loss is not None]
        if not losses:
            if scales is not None:  # the other ranks would wait for this one's gradients forever
                raise RuntimeError("a rank's share has no loss although loss_tokens counted targets in it")
            return None
        return torch.stack(losses).sum()

    def _autocast(self) -> AbstractContextManager[Any]:
        """bfloat16 autocast of forward and loss with ``training.precision = "bf16"`` (CUDA only)."""
        if self.settings.precision == "bf16":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()


def loss_tokens(sentence: Sentence, masked: Sequence[int] | None, vocab: Vocab, tasks: dict[str, TaskConfig],
                char_lm: BatchEncoder | None = None) -> dict[str, int]:
    """How many tokens of ``sentence`` each loss is averaged over, counted as the heads count them:
    a softmax head its labelled tokens, a CRF head every token of a sentence with a label, the
    masked-token head (``masked``: the sentence's masked-token targets) the chosen tokens, the
    character LM (``char_lm``: the encoder of its character stream) the characters it predicts."""
    counts = {}
    for task, task_config in tasks.items():
        known = vocab.labels[task].ids
        labelled = sum(tag in known for tag in sentence.tags.get(task) or ())
        counts[task] = (len(sentence) if labelled else 0) if task_config.decoder == "crf" else labelled
    if masked is not None:
        counts[MASKED_LM] = sum(target != IGNORE for target in masked)
    if char_lm is not None:
        counts[CHAR_LM] = char_lm.stream_length(sentence) - 1
    return counts


def share_scales(sentences: list[Sentence], masked: list[list[int]] | None, vocab: Vocab, tasks: dict[str, TaskConfig],
                 group: Group, char_lm: BatchEncoder | None = None) -> tuple[list[Sentence], list[list[int]] | None, dict[str, float]] | None:
    """This rank's share of a global batch, its masked-token targets, and the factor for each task's
    loss; None when nothing in the batch is labelled.

    A head's loss is a mean over the tokens it counts (:func:`loss_tokens`): ``rank_tokens`` here
    and ``batch_tokens`` in the whole batch. Scaled by ``world_size * rank_tokens / batch_tokens``,
    the ranks' losses average (as DDP averages their gradients) to the whole batch's loss, exactly.
    A rank whose share has nothing to learn from (a batch smaller than the group, or no label of any
    task) trains on one labelled sentence of the batch with every factor 0, so it still takes part
    in the gradient averaging, with zeros.
    """
    counts = [loss_tokens(s, masked[i] if masked is not None else None, vocab, tasks, char_lm) for i, s in enumerate(sentences)]
    totals = {task: sum(c[task] for c in counts) for task in counts[0]} if counts else {}
    if not any(totals.values()):
        return None
    mine = group.shard(range(len(sentences)))
    ours = {task: sum(counts[i][task] for i in mine) for task in totals}
    if any(ours.values()):
        scales = {task: group.world_size * ours[task] / totals[task] if totals[task] else 0.0 for task in totals}
    else:
        mine = [next(i for i, c in enumerate(counts) if any(c.values()))]
        scales = dict.fromkeys(totals, 0.0)
    return [sentences[i] for i in mine], [masked[i] for i in mine] if masked is not None else None, scales


def _evaluate(tagger: Tagger, sentences: list[Sentence], config: TaggerConfig) -> Scores:
    was_training = tagger.model.training
    tagger.model.eval()
    predictions = list(tagger.predict_sentences(sentences, config.training.eval_batch_size))
    tagger.model.train(was_training)
    return score(sentences, predictions, config.tasks)


def build_optimizer(model: torch.nn.Module, settings: TrainingConfig, device: torch.device,
                    no_decay: Sequence[torch.nn.Parameter] = ()) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel per step where torch has one (CPU and CUDA): on CPU the
    per-tensor update loop costs about a sixth of a training step at the shipped sizes.

    ``no_decay`` (a table with frozen rows) is left out of weight decay, which would shrink
    them although their gradient is zero.
    """
    fused = device.type in ("cpu", "cuda")
    kept = {id(p) for p in no_decay}
    groups = [{"params": [p for p in model.parameters() if id(p) not in kept]}]
    if kept:
        groups.append({"params": list(no_decay), "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=settings.learning_rate, betas=tuple(settings.betas),  # type: ignore[arg-type]
                             weight_decay=settings.weight_decay, fused=fused)


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
        "training": {"best_epoch": state["best_epoch"], "epochs": state["epoch"], "seconds": round(state["seconds"], 1),
                     "finished": test is not None},
        "scores": {"dev": {t: s.to_dict() for t, s in dev.items()}},
    }
    if state.get("vectors"):
        meta["vectors"] = state["vectors"]
    if test is not None:
        meta["scores"]["test"] = {t: s.to_dict() for t, s in test.items()}
    if tokens_per_second is not None:
        meta["training"]["train_tokens_per_second"] = round(tokens_per_second)
    return meta


def save_checkpoint(directory: Path, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator, state: dict[str, Any]) -> None:
    """Everything to continue training: last weights, optimizer, schedule, data order and RNG states."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "vocab.json", json.dumps(vocab.to_dict(), ensure_ascii=False))
    write_atomic(directory / "config.json", config.to_json())
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
    try:
        optimizer.load_state_dict(trainer["optimizer"])
    except ValueError as error:  # other parameter groups: freeze_vectors was changed
        raise ConfigError("embeddings.freeze_vectors", f"{directory} was written with other optimiser parameter groups "
                          f"({error}); resume with the setting it was trained with") from None
    scheduler.load_state_dict(trainer["scheduler"])
    generator.set_state(trainer["generator"])
    torch.set_rng_state(trainer["torch_rng"])
    return json.loads(trainer["state"])


# Settings a resumed training must share with the run it continues: they shape the network and its
# data. Any other change (learning rate, batch size, epochs, dropout...) is allowed, with a warning.
RESUME_FIXED = ("lang", "init_from", "data.train", "data.max_train_sentences", "tasks", "embeddings", "encoder", "masked_lm", "char_lm")
RESUME_FREE = ("embeddings.dropout", "embeddings.word_dropout", "encoder.dropout", "masked_lm.weight", "char_lm.weight",
               "training.threads", "training.device")


def check_resumed_config(config: TaggerConfig, checkpoint: Path, monitor: TrainingMonitor) -> None:
    """Compare the config with the one the checkpoint was written with: refuse a change of what
    :data:`RESUME_FIXED` names, warn of any other, naming each changed key."""
    saved_path = checkpoint / "config.json"
    if not saved_path.is_file():
        saved_path = checkpoint.parent / "config.json"  # checkpoints written before they kept their config
    if not saved_path.is_file():
        return
    changed = {key: f"{key} {json.dumps(old)} -> {json.dumps(new)}"
               for key, old, new in changed_keys(json.loads(saved_path.read_text(encoding="utf-8")), config.to_dict())}
    fixed = [key for key in changed if _under(key, RESUME_FIXED) and not _under(key, RESUME_FREE)]
    if fixed:
        raise ConfigError(fixed[0], f"cannot resume {checkpoint.parent} with another network or data: "
                          f"{'; '.join(changed[key] for key in fixed)} (the checkpoint's values are in {saved_path})")
    noticed = [change for key, change in changed.items() if not _under(key, ("training.threads", "training.device"))]
    if noticed:
        monitor.message(f"warning: resuming {checkpoint.parent} with changed settings: {'; '.join(noticed)}")


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)


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
