"""What a model is, without its weights (ModelInfo): read from its directory by
:func:`tagger.model.serialize.describe`, shown by ``tagger info``, the service's ``/info``, and the writers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tagger.core.config import TaggerConfig
from tagger.core.tasks import TaskSpec, task_specs
from tagger.core.vocab import Vocab


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, without its weights: what ``tagger info``, the service's ``/info`` and
    ``export-spacy`` show. ``meta`` is meta.json as recorded (scores, corpora, training, versions)."""

    name: str
    config: TaggerConfig
    tasks: dict[str, TaskSpec]
    words: int
    chars: int
    meta: dict[str, Any]
    segmentation: dict[str, Any] = field(default_factory=dict)  # of the segmenter it carries (or is): scores, lexicon

    @classmethod
    def of(cls, name: str, config: TaggerConfig, vocab: Vocab, meta: Mapping[str, Any],
           segmenter_meta: Mapping[str, Any] | None = None) -> ModelInfo:
        segmentation = dict((segmenter_meta or meta).get("segmentation", {}))
        return cls(name, config, task_specs(config.tasks, vocab), len(vocab.words), len(vocab.chars), dict(meta), segmentation)

    @property
    def finished(self) -> bool:
        """False for a model whose training was stopped before its end (the best epoch so far, no test
        scores); True otherwise, also for models saved before this was recorded."""
        return self.meta.get("training", {}).get("finished") is not False

    @property
    def scores(self) -> dict[str, dict[str, dict[str, Any]]]:
        """split -> task -> metrics, as recorded at training."""
        return self.meta.get("scores", {})

    @property
    def corpora(self) -> dict[str, list[str]]:
        """split -> the corpora it was trained (dev: selected, test: scored) on."""
        return self.meta.get("corpora", {})
