"""One optimisation step, shared by ``tagger train`` and ``tagger pretrain``; the optimiser and the
learning-rate schedule; how losses are shared out over the ranks of a distributed training."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import torch

from tagger.core.batching import CHAR_LM, IGNORE, MASKED_LM, BatchEncoder
from tagger.core.config import TaggerConfig, TaskConfig, TrainingConfig
from tagger.core.errors import TaggerError
from tagger.core.masking import mask_sentences
from tagger.core.types import Sentence
from tagger.core.vocab import Vocab
from tagger.nn.heads import HeadOutput
from tagger.training.distributed import Group
from tagger.training.monitor import TrainingMonitor

if TYPE_CHECKING:
    from tagger.training.distill import Distiller


class TrainStep:
    """One optimisation step per batch: blank tokens for masked-token prediction (when that is on),
    encode, forward, the weighted sum of the heads' losses, backward, clip, update. ``tagger train``
    and ``tagger pretrain`` both step through it.

    ``weights``: each loss's weight, by task name, ``MASKED_LM`` or ``CHAR_LM`` (default: the
    config's); a loss it does not name is left out (pretraining's only loss is the masked-token one).
    """

    def __init__(self, model: torch.nn.Module, batch_encoder: BatchEncoder, optimizer: torch.optim.Optimizer, scheduler: Any,
                 config: TaggerConfig, device: torch.device, monitor: TrainingMonitor, generator: torch.Generator,
                 group: Group = Group(), weights: Mapping[str, float] | None = None,
                 after_update: Callable[[], None] | None = None, distiller: Distiller | None = None) -> None:
        self.after_update = after_update  # e.g. the weight average's update
        self.distiller = distiller  # the teacher's label distributions, mixed into each task's loss
        self.model, self.batch_encoder, self.optimizer, self.scheduler = model, batch_encoder, optimizer, scheduler
        self.settings, self.tasks = config.training, config.tasks
        self.masking = config.masked_lm if config.masked_lm.weight > 0 else None
        self.weights = dict(weights) if weights is not None else {
            **{task: t.weight for task, t in config.tasks.items()}, MASKED_LM: config.masked_lm.weight, CHAR_LM: config.char_lm.weight}
        self.char_lm = batch_encoder if config.char_lm.weight > 0 else None
        self.device, self.monitor, self.generator, self.group = device, monitor, generator, group
        self.watch = FiniteWatch(list(self.weights), device, group, config)

    def epoch(self, batches: list[list[Sentence]], number: int = 1) -> tuple[float, int]:
        """Train on every batch once (epoch ``number``); returns the summed loss and the number of tokens.
        TrainingDiverged when a loss, the gradient or the weights stop being finite."""
        self.model.train()
        total_loss = torch.zeros((), device=self.device)
        tokens = 0
        for position, sentences in enumerate(batches, 1):
            loss = self.batch(sentences, f"epoch {number}, step {position} of {len(batches)}")
            if loss is None:
                continue
            total_loss += loss
            tokens += sum(len(s) for s in sentences)
            # Reading the loss forces a device sync: only on CPU, where it costs nothing.
            self.monitor.step(sum(len(s) for s in sentences), float(loss) if self.device.type == "cpu" else 0.0)
        self.check(f"the end of epoch {number}")
        # Each rank's losses are scaled so that their mean over the ranks is the loss of the whole batch.
        return self.group.sum(float(total_loss)) / self.group.world_size, tokens

    def batch(self, sentences: list[Sentence], where: str = "") -> torch.Tensor | None:
        """One update on one batch (``where``: how an error names it); the detached loss, or None when
        nothing in the batch is labelled. A non-finite loss or gradient stops before the update on the
        CPU; on a GPU :meth:`check` finds it (not to wait on the device at every step)."""
        losses = self.losses(sentences)
        if losses is None:
            return None
        loss = torch.stack(list(losses.values())).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = None
        if self.settings.clip_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_norm)
        self.watch.record(losses, norm, where, updated=bool(self.optimizer.state))
        self.optimizer.step()
        if self.after_update is not None:
            self.after_update()
        if self.settings.schedule != "plateau":
            self.scheduler.step()
        return loss.detach()

    def check(self, where: str) -> None:
        """TrainingDiverged if a step since the last check had a non-finite loss or gradient, or if the
        weights are not finite now (``where``: when, for the error); one wait on the device."""
        self.watch.check()
        finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()
        if not bool(finite):  # the same on every rank: DDP keeps their weights equal
            raise TrainingDiverged(f"training diverged: the weights are not finite at {where}; likely cause: "
                                   f"{self.watch.cause(None, updated=True)}")

    def loss(self, sentences: list[Sentence]) -> torch.Tensor | None:
        """The weighted sum of the task losses on one batch (see :meth:`losses`); None when nothing in the batch is labelled."""
        losses = self.losses(sentences)
        return torch.stack(list(losses.values())).sum() if losses is not None else None

    def losses(self, sentences: list[Sentence]) -> dict[str, torch.Tensor] | None:
        """Each weighted task loss on one batch (blanked for masked-token prediction when that is on),
        by task; None when nothing in the batch is labelled.

        In distributed training ``sentences`` is the whole batch, and the losses are those of this rank's
        share with each task's loss scaled by :func:`share_scales`.
        """
        targets = None
        wanted = self.distiller.batch(sentences, self.device) if self.distiller is not None else {}
        if self.masking is not None:
            # The whole batch on every rank: the generator, which also orders the data, stays in step.
            sentences, targets = mask_sentences(sentences, self.batch_encoder.vocab, self.masking, self.generator)
        scales = None
        if self.group.active:
            shared = share_scales(sentences, targets, self.batch_encoder.vocab, self.tasks, self.group, self.char_lm)
            if shared is None:
                return None  # the same on every rank: they all skip the batch
            sentences, targets, scales = shared
        batch = self.batch_encoder.encode(sentences, masked_targets=targets).to(self.device)
        with self._autocast():
            outputs = self.model(batch)
            if wanted:
                self._mix_in(outputs, wanted, batch.mask)
            counted = [(task, out.loss) for task, out in outputs.items() if out.loss is not None and task in self.weights]
            if scales is None:
                losses = {task: self.weights[task] * loss for task, loss in counted}
            else:
                losses = {task: self.weights[task] * scales[task] * loss for task, loss in counted}
        if not losses:
            if scales is not None:  # the other ranks would wait for this one's gradients forever
                raise RuntimeError("a rank's share has no loss although loss_tokens counted targets in it")
            return None
        return losses

    def _mix_in(self, outputs: dict[str, HeadOutput], wanted: dict[str, torch.Tensor], mask: torch.Tensor) -> None:
        """Each task's loss becomes ``distill.weight`` times the cross-entropy with the teacher's distributions plus
        the rest times the gold labels' loss (the teacher's alone where a batch has no gold labels for the task)."""
        share = self.distiller.weight  # type: ignore[union-attr]
        for task, distributions in wanted.items():
            output = outputs[task]
            soft = self.model.heads[task].soft_loss(output.scores, mask, distributions)  # type: ignore[union-attr, operator]
            output.loss = soft if output.loss is None else share * soft + (1.0 - share) * output.loss

    def _autocast(self) -> AbstractContextManager[Any]:
        """bfloat16 autocast of forward and loss with ``training.precision = "bf16"`` (CUDA only)."""
        if self.settings.precision == "bf16":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()


class TrainingDiverged(TaggerError):
    """A loss, the gradient or the weights became infinite or NaN: training stops, and nothing of it
    after the last finite checkpoint is saved."""


GRADIENT = "gradient"


class FiniteWatch:
    """Watches each step's losses and gradient norm for a value that is not finite.

    The first such step is recorded on the device (its losses and norm, and ``where`` it was), so that
    a GPU need not wait at each step; :meth:`check` reads that record (the CPU checks every step).
    Under torchrun every rank decides together, so that none is left waiting in a collective.
    """

    def __init__(self, names: list[str], device: torch.device, group: Group, config: TaggerConfig) -> None:
        self.names, self.device, self.group, self.config = [*names, GRADIENT], device, group, config
        self.every_step = checks_every_step(device)
        self._reset()

    def _reset(self) -> None:
        self.steps: list[tuple[str, bool]] = []  # since the last check: where each step was, whether the optimiser had updated before
        self.first = torch.full((), -1, dtype=torch.long, device=self.device)  # the index of the first bad step in self.steps
        self.values = torch.zeros(len(self.names), device=self.device)  # its losses and gradient norm

    def record(self, losses: dict[str, torch.Tensor], norm: torch.Tensor | None, where: str, updated: bool) -> None:
        zero = torch.zeros((), device=self.device)
        values = torch.stack([losses[name].detach().float() if name in losses else zero for name in self.names[:-1]]
                             + [norm.detach().float() if norm is not None else zero])
        first = ~torch.isfinite(values).all() & (self.first < 0)
        self.first = torch.where(first, len(self.steps), self.first)
        self.values = torch.where(first, values, self.values)
        self.steps.append((where or f"step {len(self.steps) + 1}", updated))
        if self.every_step:
            self.check()

    def check(self) -> None:
        """TrainingDiverged naming the first step since the last check with a value that is not finite."""
        first = int(self.first)
        anywhere = self.group.sum(float(first >= 0)) if self.group.active else float(first >= 0)
        if not anywhere:
            self._reset()
            return
        if first < 0:
            raise TrainingDiverged("training diverged on another rank (it names the step)")
        where, updated = self.steps[first]
        name, value = next((n, float(v)) for n, v in zip(self.names, self.values.tolist()) if not math.isfinite(v))
        what = "the gradient norm" if name == GRADIENT else f"the loss of {_loss_name(name)}"
        raise TrainingDiverged(f"training diverged at {where}: {what} is {value}; likely cause: {self.cause(name, updated)}")

    def cause(self, name: str | None, updated: bool) -> str:
        """What most likely made ``name``'s loss (or the gradient, or the weights: None) not finite."""
        settings, causes = self.config.training, []
        suspects = [name] if name not in (None, GRADIENT) else self.names[:-1]
        large = [f"{key} = {value:g}" for key, value in filter(None, (_weight_key(n, self.config) for n in suspects)) if value > 100]
        if large:
            causes.append(f"a very large loss weight ({', '.join(large)})")
        if settings.precision == "bf16":
            causes.append('an overflow in bfloat16 (try training.precision = "fp32")')
        if updated:
            clip = "" if settings.clip_norm > 0 else "; training.clip_norm = 0 leaves the gradients unclipped"
            causes.append(f"the learning rate is too high for this model (training.learning_rate = {settings.learning_rate:g}: "
                          f"lower it{clip})")
        if not causes:
            causes.append("a value in the input or the starting weights (no update was made before)")
        return "; or ".join(causes)


def checks_every_step(device: torch.device) -> bool:
    """Whether each step is checked as it ends: on the CPU, where its values are there already."""
    return device.type == "cpu"


def _loss_name(name: str) -> str:
    return {MASKED_LM: "masked-token prediction", CHAR_LM: "the character LM"}.get(name, f"task {name!r}")


def _weight_key(name: str, config: TaggerConfig) -> tuple[str, float] | None:
    """The config key of a loss's weight, and its value."""
    if name == MASKED_LM:
        return "masked_lm.weight", config.masked_lm.weight
    if name == CHAR_LM:
        return "char_lm.weight", config.char_lm.weight
    task = config.tasks.get(name)
    return (f"tasks.{name}.weight", task.weight) if task else None


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


def build_optimizer(model: torch.nn.Module, settings: TrainingConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel per step where torch has one (CPU and CUDA): on CPU the
    per-tensor update loop costs about a sixth of a training step at the shipped sizes; or NAdam
    (``training.optimizer = "nadam"``: Nesterov momentum, decoupled weight decay; torch has no fused one).
    Only parameters that train are given to it (a word table's fixed rows are a buffer)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    betas = tuple(settings.betas)
    if settings.optimizer == "nadam":
        return torch.optim.NAdam(parameters, lr=settings.learning_rate, betas=betas,  # type: ignore[arg-type]
                                 weight_decay=settings.weight_decay, decoupled_weight_decay=True)
    return torch.optim.AdamW(parameters, lr=settings.learning_rate, betas=betas,  # type: ignore[arg-type]
                             weight_decay=settings.weight_decay, fused=device.type in ("cpu", "cuda"))


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TrainingConfig, *, total_steps: int | None) -> Any:
    """The learning-rate schedule over ``total_steps`` optimiser steps, after ``warmup_steps``; with
    ``total_steps`` None (a stream of unknown length) constant after warmup. ``plateau`` halves the
    rate when the dev score stalls (the loop steps it with that score, once per epoch)."""
    if settings.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2)
    total = max(total_steps or 1, 1)
    warmup = max(settings.warmup_steps, 0)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if total_steps is None:
            return 1.0
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        if settings.schedule == "linear":
            return max(1.0 - progress, 0.0)
        if settings.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
