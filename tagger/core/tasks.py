"""What each task of a model is: the one place where a task's kind (token or span) is decided.

A task is a *span* task when its config names a span scheme (BIO, BIOES): its labels are span
tags, predictions carry spans and tags in BIO, and it is scored by entity P/R/F1. Every other task
is a *token* task: one label per token, scored by accuracy. Front ends, scoring, the readers'
scheme conversion and the spaCy component all read :class:`TaskSpec` rather than the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tagger.core.schemes import Scheme, convert, span_labels, split_tag

if TYPE_CHECKING:
    from tagger.core.config import TaskConfig
    from tagger.core.vocab import Vocab

SEGMENT = "segment"  # the task of a segmenter model (tagger.model.segmenter)
NO_TASKS = ("this model has no tagging task: it was pretrained to fill in blanked words (fill-mask), or train a tagger from "
            "it with init_from = \"MODEL\" in a config with tasks")  # what predict, annotate, the component and the service say


@dataclass(frozen=True)
class TaskSpec:
    """One task: its name, kind, scheme (span tasks), decoder, the model's labels and, for span
    tasks, the entity types behind them (``PER``, not ``B-PER``)."""

    name: str
    kind: Literal["token", "span"]
    scheme: Scheme | None  # the scheme the model is trained and decodes in; None for token tasks
    decoder: str = "softmax"
    strict: bool = False  # span tasks: a stray I- in the data is an error, not repaired
    labels: tuple[str, ...] = ()  # the model's labels, in id order (empty before a vocabulary exists)

    @classmethod
    def of(cls, name: str, config: TaskConfig, labels: Sequence[str] = ()) -> TaskSpec:
        scheme = config.scheme or None
        return cls(name, "span" if scheme else "token", scheme, config.decoder, config.strict, tuple(labels))  # type: ignore[arg-type]

    @property
    def is_span(self) -> bool:
        return self.kind == "span"

    @property
    def span_labels(self) -> tuple[str, ...]:
        """Entity types for a span task, the labels themselves for a token task."""
        return tuple(span_labels(self.labels)) if self.is_span else self.labels

    def to_bio(self, tags: Sequence[str]) -> list[str]:
        """A span task's tags in BIO (how predictions and scores speak of spans); a token task's as they are."""
        return convert(tags, self.scheme, "BIO") if self.scheme else list(tags)

    def misfit_label(self) -> str | None:
        """The first of a span task's labels that is no tag of its scheme (O, or a scheme's prefix and a type),
        which decoding could not read; None when all fit, and for a token task (any label is one)."""
        prefixes = set(self.scheme or "") - {"O"}
        for label in self.labels if self.is_span else ():
            prefix, dash, kind = label.partition("-")
            if label != "O" and not (dash and kind and prefix in prefixes):
                return label
        return None

    def label_of(self, tag: str) -> str:
        """What scoring and confusion tables compare: a span tag's entity type ("" outside one), else the tag."""
        return split_tag(tag)[1] if self.is_span else tag


def task_specs(tasks: Mapping[str, TaskConfig], vocab: Vocab | None = None) -> dict[str, TaskSpec]:
    """The specs of a config's tasks, with their labels when a vocabulary is given."""
    return {name: TaskSpec.of(name, config, vocab.labels[name].items if vocab is not None else ()) for name, config in tasks.items()}


def check_task_selection(requested: Sequence[str] | None, known: Sequence[str]) -> None:
    """ValueError for tasks asked for that cannot be given: an empty list (it asks for no labels), a task the
    model does not have, or one named twice. None asks for all. The one rule of ``annotate --tasks`` and the
    service's ``tasks``."""
    if requested is None:
        return
    if not requested:
        raise ValueError("an empty list asks for no labels: name at least one task, or leave tasks out for all of them")
    unknown = [name for name in requested if name not in known]
    if unknown:
        raise ValueError(f"unknown task {', '.join(map(repr, unknown))}; this model's tasks: {', '.join(known)}")
    twice = sorted({name for name in requested if list(requested).count(name) > 1})
    if twice:
        raise ValueError(f"{', '.join(map(repr, twice))} named more than once: name each task once")
