"""``tagger train``: batches by length, early stopping on dev, the best model saved, checkpoints to resume from."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel

from tagger.analysis.evaluation import evaluate, selection_score, unseen_labels
from tagger.core.batching import BatchEncoder, bucket_batches
from tagger.core.config import TaggerConfig, TrainingConfig
from tagger.core.errors import ConfigError, TaggerError, writing
from tagger.core.runtime import choose_device, cores_per_process, seed_everything, set_threads
from tagger.core.tasks import task_specs
from tagger.core.tokenize import UNSPACED
from tagger.core.types import Scores, Sentence, TaskScores
from tagger.core.vocab import MASK, UNK, Vocab
from tagger.data import load_sentences
from tagger.files.atomic import write_atomic
from tagger.files.locking import hold
from tagger.model.predict import Tagger
from tagger.model.serialize import SEGMENTER, load_model, read_json, save_model
from tagger.nn.model import SequenceTagger, build_model
from tagger.training.checkpoint import CHECKPOINT, check_output_dir, check_resumed_config, has_checkpoint, load_checkpoint, save_checkpoint
from tagger.training.distill import Distiller
from tagger.training.distributed import Group, is_main_process, local_device, process_group
from tagger.training.monitor import Quiet, TrainingMonitor
from tagger.training.step import TrainingDiverged, TrainStep, build_optimizer, build_scheduler
from tagger.training.transfer import VectorRows, build_vocabulary, copy_pretrained, coverage, describe_coverage, load_base, take_architecture

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    best_epoch: int
    epochs: list[dict[str, Any]]
    dev_scores: Scores = field(default_factory=dict)
    test_scores: Scores = field(default_factory=dict)
    seconds: float = 0.0
    train_tokens_per_second: float = 0.0


@dataclass
class Splits:
    """Sentences to train on, given instead of reading ``config.data`` (the segmenter's character units)."""

    train: list[Sentence]
    dev: list[Sentence] = field(default_factory=list)
    test: list[Sentence] = field(default_factory=list)
    lexicon: tuple[str, ...] = ()  # words the vocabulary keeps for a segmenter's lexicon features


@dataclass
class TrainingState:
    """How far a training got: saved in its checkpoint (as JSON), so that a resume goes on from there."""

    epoch: int = 0
    best: float = -1.0  # the best epoch's dev score (selection_score), or its number without dev data
    best_epoch: int = 0
    bad_epochs: int = 0  # since the best
    records: list[dict[str, Any]] = field(default_factory=list)  # one per epoch, as metrics.jsonl has them
    seconds: float = 0.0
    vectors: dict[str, Any] | None = None  # the pretrained vectors' coverage, when there are vectors

    def add(self, record: dict[str, Any], score: float, seconds: float) -> None:
        """Record an epoch (``record["best"]`` is set here) scored ``score``."""
        record["best"] = score > self.best
        self.records.append(record)
        self.epoch, self.seconds = record["epoch"], seconds
        if record["best"]:
            self.best, self.best_epoch, self.bad_epochs = score, record["epoch"], 0
        else:
            self.bad_epochs += 1

    @property
    def best_dev(self) -> Scores:
        """The best epoch's dev scores, as the loop found them (the model saved is that epoch's)."""
        if not self.best_epoch:
            return {}
        record = self.records[self.best_epoch - 1]
        return {task: TaskScores.from_dict(scores) for task, scores in record["dev"].items()}

    def stop_reason(self, settings: TrainingConfig) -> str:
        """Why training stops after this epoch, or "" to go on."""
        if settings.patience and self.bad_epochs >= settings.patience:
            return f"stopping early: no dev improvement for {settings.patience} epochs"
        if settings.max_minutes and self.seconds > settings.max_minutes * 60:
            return f"stopping: the {settings.max_minutes}-minute budget is spent"
        return ""


def train(config: TaggerConfig, output_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
          monitor: TrainingMonitor | None = None, data: Splits | None = None) -> TrainResult:
    """Train a model as the config says; write the best one to ``output_dir``.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process calls this and together
    they train one model (see :mod:`tagger.training.distributed`): ``training.batch_size`` is the batch
    of all processes together, rank 0 alone writes ``output_dir`` and reports to ``monitor``, and
    every rank returns rank 0's result.

    Args:
        config: the resolved config (not changed: what training fills in goes into a copy).
        output_dir: the model directory (created); ``checkpoint/`` inside holds the
            state to resume from.
        resume: continue from ``output_dir/checkpoint`` (an error when there is none).
        overwrite: train into a directory that already holds a model, replacing it (else an error).
        monitor: receives progress; by default only logs.
        data: the sentences to train, select and test on, instead of reading ``config.data``.

    With ``segmenter.train`` a segmenter is trained first, into ``output_dir/segmenter``, and the model
    carries it (as it carries one named by ``segmenter.model``); with no task to train besides, the
    segmenter alone is trained, into ``output_dir`` (see :mod:`tagger.training.segmenter`).

    The run holds ``output_dir``'s lock (:mod:`tagger.files.locking`): a second run into it is refused.
    """
    output_dir = Path(output_dir)
    device = local_device(choose_device(config.training.device))
    if config.training.precision == "bf16" and device.type != "cuda":
        # Not a silent fallback: config.json must say how the model was really trained.
        raise ConfigError("training.precision", f'"bf16" is autocast on CUDA and this run is on {device}; use "fp32" here')
    from tagger.training.segmenter import prepare_segmenter, refuse_distributed_segmenter, train_segmenter

    refuse_distributed_segmenter(config)
    if data is None and config.segmenter.train and not config.tasks and config.masked_lm.weight <= 0:

        return train_segmenter(config, output_dir, resume=resume, overwrite=overwrite, monitor=monitor)
    # A run stopped while it trained the segmenter resumes that one; the tagger then starts afresh.
    resume_tagger = resume and (has_checkpoint(output_dir) or not has_checkpoint(output_dir / SEGMENTER))
    with hold(output_dir) if is_main_process() else nullcontext():
        segmenter = None
        if is_main_process():
            check_output_dir(output_dir, resume_tagger, overwrite or resume)  # resume: its segmenter, at least
            if config.has_segmenter and data is None:
                segmenter = prepare_segmenter(config, output_dir, resume, monitor or TrainingMonitor())
            elif config.lang in UNSPACED and data is None:
                (monitor or TrainingMonitor()).message(
                    f"note: raw text will go through spaCy's {config.lang!r} tokenizer, whose words may not be "
                    "the training corpus's; set segmenter.train = true to learn the corpus's own words")
        with process_group(device) as group:
            monitor = (monitor or TrainingMonitor()) if group.is_main else Quiet()
            return _train(config, output_dir, resume_tagger, monitor, device, group, data, segmenter)


def _train(config: TaggerConfig, output_dir: Path, resume: bool, monitor: TrainingMonitor, device: torch.device, group: Group,
           data: Splits | None, segmenter: dict[str, bytes] | None) -> TrainResult:
    settings = config.training
    generator = seed_everything(config.seed)
    set_threads(settings.threads or (cores_per_process(group.local_world_size) if group.active else 0))
    train_sentences, dev_sentences = _read_data(config, group, monitor, data)
    run = _start(config, output_dir, resume, train_sentences, device, generator, group, monitor, data.lexicon if data else ())
    run.segmenter = segmenter
    config, state = run.config, run.state  # config: with what the start filled in (init_from's shapes, word_dim)
    trained = group.wrap(run.model, device, find_unused_parameters=_heads_may_lack_targets(config, train_sentences))
    average = run.average
    distiller = None
    if config.distill.teacher:
        if group.active:
            raise ConfigError("distill.teacher", "distillation runs in one process: train without torchrun")
        distiller = Distiller.start(config, run.vocab, train_sentences, device, monitor)
    step = TrainStep(trained, BatchEncoder.for_embeddings(run.vocab, config.embeddings), run.optimizer, run.scheduler, config, device,
                     monitor, generator, group, after_update=(lambda: average.update_parameters(run.model)) if average else None,
                     distiller=distiller)
    evaluator = Tagger(run.scored, run.vocab, config) if group.is_main else None
    # With a weight average, the weights as trained are scored too: what the average adds, epoch by epoch.
    unaveraged = Tagger(run.model, run.vocab, config) if group.is_main and average is not None else None
    lengths = [len(s) for s in train_sentences]
    started = time.perf_counter() - state.seconds
    trained_tokens, train_seconds = 0, 0.0
    best_dev: Scores = {}  # the best epoch's scores in full (the records keep only what meta.json shows)
    # A resumed run whose last epoch met a stop reason (patience, time) had stopped: it is only finished.
    first = settings.max_epochs + 1 if state.records and state.stop_reason(settings) else state.epoch + 1
    try:  # the progress display ends on an error too
        for epoch in range(first, settings.max_epochs + 1):
            batches = bucket_batches(lengths, settings.batch_size, generator)  # the same on every rank
            monitor.start_epoch(epoch, len(batches))
            epoch_start = time.perf_counter()
            try:
                total_loss, epoch_tokens = step.epoch([[train_sentences[i] for i in batch] for batch in batches], epoch)
            except TrainingDiverged as error:
                raise TrainingDiverged(f"{error}. {run.kept(output_dir)}") from None
            epoch_seconds = time.perf_counter() - epoch_start
            trained_tokens, train_seconds = trained_tokens + epoch_tokens, train_seconds + epoch_seconds
            dev_scores = evaluate(evaluator, dev_sentences, settings.eval_batch_size) if evaluator and dev_sentences else {}
            current = group.broadcast(selection_score(dev_scores, settings.select_by) if dev_scores else float(epoch))  # no dev: the last is best
            as_trained = evaluate(unaveraged, dev_sentences, settings.eval_batch_size) if unaveraged and dev_sentences else {}
            if settings.schedule == "plateau":
                run.scheduler.step(current)
            record = {"epoch": epoch, "train_loss": total_loss / max(len(batches), 1), "learning_rate": run.optimizer.param_groups[0]["lr"],
                      "tokens_per_second": epoch_tokens / epoch_seconds, "seconds": epoch_seconds,
                      "dev": {task: s.to_dict() for task, s in dev_scores.items()}, "dev_main": current if dev_scores else None}
            if as_trained:
                record["dev_main_unaveraged"] = selection_score(as_trained, settings.select_by)
            state.add(record, current, time.perf_counter() - started)
            best_dev = dev_scores if record["best"] else best_dev
            if group.is_main:
                run.save(output_dir, generator)
            monitor.end_epoch(record)
            stop = group.broadcast(state.stop_reason(settings))  # rank 0's clock decides the time budget
            if stop:
                monitor.message(stop)
                break
    finally:
        monitor.close()
    tokens_per_second = trained_tokens / train_seconds if train_seconds else 0.0
    return group.from_main(lambda: _finish(config, run.vocab, output_dir, device, state, best_dev or state.best_dev, dev_sentences,
                                           tokens_per_second, data))


@dataclass
class _Run:
    """What the epochs work on: the config as training completed it, the network, its optimiser and the state."""

    config: TaggerConfig
    vocab: Vocab
    model: SequenceTagger
    optimizer: torch.optim.Optimizer
    scheduler: Any
    state: TrainingState
    segmenter: dict[str, bytes] | None = None  # the files of the segmenter the model carries
    checkpointed: int = 0  # the epoch of the checkpoint in the model directory (0: none)
    average: AveragedModel | None = None  # the moving average of the weights (training.average)

    @property
    def scored(self) -> SequenceTagger:
        """The network that is scored on dev and saved: the weight average when there is one."""
        return self.average.module if self.average is not None else self.model  # type: ignore[return-value]

    def save(self, output_dir: Path, generator: torch.Generator) -> None:
        """After an epoch: the model if it was the best so far, the metrics, the checkpoint (last: what a
        resume starts from, so that an epoch whose files failed to write is trained again)."""
        then = self.after_failed_write(output_dir)
        if self.state.records[-1]["best"]:
            with writing(output_dir / "model.safetensors", then):
                save_model(output_dir, self.scored, self.vocab, self.config, _meta(self.config, self.state), self.segmenter)
        with writing(output_dir / "metrics.jsonl", then):
            write_atomic(output_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.state.records))
        with writing(output_dir / CHECKPOINT, then):
            save_checkpoint(output_dir / CHECKPOINT, self.model, self.vocab, self.config, self.optimizer, self.scheduler, generator,
                            asdict(self.state), self.average)
        self.checkpointed = self.state.epoch

    def after_failed_write(self, output_dir: Path) -> str:
        """What is safe to do when writing into ``output_dir`` failed (a full disk): the checkpoint before stays whole."""
        if not self.checkpointed:
            return f"No checkpoint was written yet: free space (or fix the cause), then train again into {output_dir} with --overwrite"
        return (f"The checkpoint of epoch {self.checkpointed} in {output_dir / CHECKPOINT} is whole: free space (or fix the cause), "
                "then rerun with --resume to go on from there")

    def kept(self, output_dir: Path) -> str:
        """What a training that diverged leaves: only what was saved before (all of it finite)."""
        if not self.checkpointed:
            return "Nothing of this run was saved."
        return (f"Kept from before: the best model so far (epoch {self.state.best_epoch}) in {output_dir} and the checkpoint of "
                f"epoch {self.checkpointed}; change what made it diverge and train again.")


def _start(config: TaggerConfig, output_dir: Path, resume: bool, train_sentences: list[Sentence], device: torch.device,
           generator: torch.Generator, group: Group, monitor: TrainingMonitor, lexicon: tuple[str, ...] = ()) -> _Run:
    """Vocabulary, network, optimiser and state: new (from ``init_from`` and pretrained vectors when
    the config names them), or as the checkpoint left them."""
    settings, checkpoint = config.training, output_dir / CHECKPOINT
    resuming = group.broadcast(resume)  # check_output_dir made sure rank 0 has a checkpoint
    if resuming and not has_checkpoint(output_dir):
        raise TaggerError(f"rank {group.rank} cannot see {checkpoint}: to resume, every machine needs the model directory "
                          "on a file system they share, at the same path")
    base = load_base(config) if config.init_from else None
    if base is not None:
        config = take_architecture(config, base.config)
        monitor.message(f"starting from {config.init_from}: its embeddings and encoder ({len(base.vocab.words)} words)")
    vocab, vectors = group.from_main(lambda: build_vocabulary(config, train_sentences, checkpoint if resuming else None,
                                                              base.vocab if base else None, lexicon))
    if vectors is not None:  # word_dim 0 means the vectors' size; an explicit other one was refused already
        config = replace(config, embeddings=replace(config.embeddings, word_dim=vectors.dim))
    if resuming and (warning := check_resumed_config(config, checkpoint)):
        monitor.message(warning)
    model = build_model(config, vocab).to(device)
    if base is not None and not resuming:
        monitor.message(f"copied {copy_pretrained(base.model, model)} pretrained tensors")
    state = TrainingState()
    if vectors is not None:
        state.vectors = {**coverage(train_sentences, vocab, vectors), "frozen": config.embeddings.freeze_vectors}
        monitor.message(describe_coverage(state.vectors, vocab, vectors.seconds))
        vectors.start(model.embeddings.words.weight, fill=not resuming)
    trainable = trainable_rows(config, vocab, train_sentences, vectors)
    if not bool(trainable.all()):
        trained = model.embeddings.train_rows(trainable)
        monitor.message(f"{trained:,} of {len(vocab.words):,} word rows train (the others are never looked up in training"
                        f"{' or are frozen vectors' if config.embeddings.freeze_vectors else ''}): a step costs what its rows cost")
    optimizer = build_optimizer(model, settings, device)
    scheduler = build_scheduler(optimizer, settings, total_steps=settings.max_epochs * math.ceil(len(train_sentences) / settings.batch_size))
    average = None
    if settings.average > 0:  # after every update: decay * average + (1 - decay) * weights
        average = AveragedModel(model, multi_avg_fn=moving_average(settings.average))
    if resuming:
        state = TrainingState(**load_checkpoint(checkpoint, model, optimizer, scheduler, generator, monitor.message, average))  # every rank: rank 0's
        monitor.message(f"resuming after epoch {state.epoch}")
    if group.active:
        # The data order and masking (``generator``) stay the same on every rank; dropout should not.
        torch.manual_seed(int(torch.randint(2**62, ())) + group.rank)
    return _Run(config, vocab, model, optimizer, scheduler, state, checkpointed=state.epoch, average=average)


def moving_average(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """An exponential moving average of the weights for ``AveragedModel``, whose decay starts low and rises
    to ``decay`` ((1 + n) / (10 + n) after n updates, as TensorFlow's ExponentialMovingAverage does):
    a plain 0.999 would still hold two thirds of the random start after the first 400 steps."""
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        done = int(updates)
        share = 1.0 - min(decay, (1 + done) / (10 + done))
        for mean, weights in zip(averaged, current):
            mean.lerp_(weights, share)
    return update


def trainable_rows(config: TaggerConfig, vocab: Vocab, sentences: list[Sentence], vectors: VectorRows | None) -> torch.Tensor:
    """[words] bool: the word rows that can learn. A row no training batch looks up gets no gradient, and
    Adam(W) without weight decay leaves it as it starts, so it need not be trained: that is every row of
    the vectors' words not in the training text (with weight decay, such rows are kept as read rather
    than shrunk). Masked-token prediction's random replacements can look up any row; ``freeze_vectors``
    keeps the vectors' rows as read."""
    masking = config.masked_lm
    if masking.weight > 0 and masking.random > 0:
        trainable = torch.ones(len(vocab.words), dtype=torch.bool)
    else:
        trainable = torch.zeros(len(vocab.words), dtype=torch.bool)
        seen = {vocab.word_id(token) for sentence in sentences for token in sentence.tokens}
        seen.update(vocab.words.ids[special] for special in (UNK, MASK) if special in vocab.words)
        trainable[sorted(seen)] = True
    if vectors is not None and config.embeddings.freeze_vectors:
        trainable[vectors.ids] = False
    trainable[0] = True  # padding: neither trained nor worth a split on its own
    return trainable


def _read_data(config: TaggerConfig, group: Group, monitor: TrainingMonitor, data: Splits | None) -> tuple[list[Sentence], list[Sentence]]:
    """The labelled training sentences, and the dev sentences (rank 0 alone evaluates)."""
    if data is not None:
        train_sentences, dev_sentences = [s for s in data.train if s.tokens and s.tags], data.dev if group.is_main else []
    else:
        train_sentences = [s for s in load_sentences(config.data.train, config.tasks, config.data.max_train_sentences) if s.tokens and s.tags]
        dev_sentences = load_sentences(config.data.dev, config.tasks) if config.data.dev and group.is_main else []
    monitor.message(f"{len(train_sentences)} training sentences ({sum(map(len, train_sentences))} tokens), {len(dev_sentences)} dev")
    if group.active:
        monitor.message(f"{group.world_size} processes ({group.backend}; torch threads per process: {torch.get_num_threads()}), "
                        f"each taking 1/{group.world_size} of every batch of {config.training.batch_size} sentences")
    return train_sentences, dev_sentences


def _heads_may_lack_targets(config: TaggerConfig, sentences: list[Sentence]) -> bool:
    """Whether some head can get no targets in one rank's share of a batch, so that DDP must look
    for parameters without gradients: the masked-token head (few tokens are chosen), or a task
    that some training sentences have no labels for."""
    return config.masked_lm.weight > 0 or any(not s.tags.get(task) for s in sentences for task in config.tasks)


def _finish(config: TaggerConfig, vocab: Vocab, output_dir: Path, device: torch.device, state: TrainingState, best_dev: Scores,
            dev_sentences: list[Sentence], tokens_per_second: float, data: Splits | None) -> TrainResult:
    """Score the best model on test (its dev scores are the loop's), complete meta.json, draw the learning curve."""
    if data is not None:
        test_sentences = data.test
    else:
        test_sentences = load_sentences(config.data.test, config.tasks) if config.data.test else []
    test_scores: Scores = {}
    if test_sentences:
        loaded = load_model(output_dir, device)  # the best epoch's weights; not Tagger.load: it warns of an unfinished training
        test_scores = evaluate(Tagger(loaded.model, loaded.vocab, loaded.config, loaded.meta), test_sentences, config.training.eval_batch_size)
    tasks = task_specs(config.tasks, vocab)
    for split, sentences in (("dev", dev_sentences), ("test", test_sentences)):
        if unseen := unseen_labels(sentences, tasks):
            logger.warning("%s: %s", split, unseen)
    meta = _meta(config, state, test_scores, tokens_per_second)
    then = (f"The best model (epoch {state.best_epoch}) and the checkpoint of epoch {state.epoch} are saved in {output_dir}: free space "
            "(or fix the cause), then rerun with --resume to finish (test scores, meta.json, the learning curve)")
    with writing(output_dir / "meta.json", then):
        write_atomic(output_dir / "meta.json", json.dumps({**read_json(output_dir / "meta.json"), **meta}, indent=2))
    try:
        from tagger.analysis.plots import plot_learning_curve

        with writing(output_dir / "learning_curve.png", then):
            plot_learning_curve(state.records, output_dir / "learning_curve.png")
    except ImportError:  # matplotlib is a dependency, but a broken install should not lose the model
        logger.warning("matplotlib unavailable: no learning curve written")
    return TrainResult(output_dir, state.best_epoch, state.records, best_dev, test_scores, state.seconds, tokens_per_second)


def _meta(config: TaggerConfig, state: TrainingState, test: Scores | None = None, tokens_per_second: float | None = None) -> dict[str, Any]:
    """What meta.json records of a training: its corpora, how it went, the best epoch's dev scores and,
    once it is finished, the test scores (``test`` None: not finished yet)."""
    corpora = {split: [s.name for s in sources]
               for split, sources in (("train", config.data.train), ("dev", config.data.dev), ("test", config.data.test)) if sources}
    meta: dict[str, Any] = {
        "corpora": corpora,
        "training": {"best_epoch": state.best_epoch, "epochs": state.epoch, "seconds": round(state.seconds, 1),
                     "finished": test is not None},
        "scores": {"dev": {t: s.to_dict() for t, s in state.best_dev.items()}},
    }
    if state.vectors:
        meta["vectors"] = state.vectors
    if test is not None:
        meta["scores"]["test"] = {t: s.to_dict() for t, s in test.items()}
    if tokens_per_second is not None:
        meta["training"]["train_tokens_per_second"] = round(tokens_per_second)
    return meta
