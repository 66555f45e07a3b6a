"""Knowledge distillation: a teacher's label distributions for every training sentence, as soft targets.

The teacher (a model, or an ensemble of seeds) labels the training sentences once, when training
starts; each batch then carries, per task, the teacher's distribution over the labels at every
token, which :meth:`tagger.training.step.TrainStep.losses` mixes with the gold labels' loss
(``distill.weight``; see :class:`tagger.core.config.DistillConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from tagger.core.config import TaggerConfig
from tagger.core.errors import ConfigError, TaggerError
from tagger.core.runtime import RunOptions
from tagger.core.types import Sentence
from tagger.core.vocab import Vocab
from tagger.model.predict import Tagger
from tagger.training.monitor import TrainingMonitor


class Distiller:
    """The teacher's per-token label distributions of the training sentences (in the student's label order)."""

    def __init__(self, targets: dict[int, dict[str, torch.Tensor]], weight: float) -> None:
        self.targets = targets  # id(sentence) -> task -> [tokens, labels]
        self.weight = weight

    @classmethod
    def start(cls, config: TaggerConfig, vocab: Vocab, sentences: Sequence[Sentence], device: torch.device,
              monitor: TrainingMonitor) -> Distiller:
        """Load ``distill.teacher`` and let it label ``sentences``; ConfigError naming the key when it cannot teach these tasks."""
        where = config.distill.teacher
        try:
            with torch.random.fork_rng(devices=[]):  # building the teacher's network draws its (discarded) first weights
                teacher = Tagger.load(where, RunOptions(device=str(device), threads=torch.get_num_threads()))
        except TaggerError as error:
            raise ConfigError("distill.teacher", str(error)) from None
        columns = {}
        for task in config.tasks:
            if task not in teacher.task_specs:
                raise ConfigError("distill.teacher", f"{where} has no task {task!r} (it has {', '.join(teacher.tasks) or 'none'})")
            theirs, ours = teacher.vocab.labels[task].items, vocab.labels[task].items
            if not set(theirs) & set(ours):
                raise ConfigError("distill.teacher", f"{where}: its {task} labels ({', '.join(theirs[:10])}...) are none of the training data's")
            if only_theirs := sorted(set(theirs) - set(ours)):
                monitor.message(f"distill: the teacher's {task} labels {only_theirs} are not in the training data: their share is left out")
            columns[task] = torch.tensor([theirs.index(label) if label in theirs else -1 for label in ours])
        monitor.message(f"distilling from {where} ({len(teacher.members) or 1} model{'s' if teacher.members else ''}): "
                        f"labelling {len(sentences):,} training sentences")
        distributions = teacher.label_distributions(list(sentences), tasks=list(config.tasks))
        targets = {id(sentence): {task: in_columns(found[task], columns[task]) for task in config.tasks}
                   for sentence, found in zip(sentences, distributions)}
        return cls(targets, config.distill.weight)

    def batch(self, sentences: Sequence[Sentence], device: torch.device) -> dict[str, torch.Tensor]:
        """Task -> the teacher's distributions for these sentences, padded to the longest: [batch, seq, labels]."""
        rows = [self.targets[id(sentence)] for sentence in sentences]
        return {task: pad_sequence([row[task] for row in rows], batch_first=True).to(device) for task in rows[0]}

def in_columns(distribution: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """A teacher's [tokens, its labels] distribution over the student's labels (``columns``: the teacher's
    column of each, -1 for none): labels it lacks get 0, and each row is normalised again."""
    found = distribution[:, columns.clamp(min=0)] * (columns >= 0)
    return found / found.sum(-1, keepdim=True).clamp(min=1e-12)
