"""Tagging schemes for spans: IOB1, BIO (IOB2) and BIOES, detection and conversion.

All functions are pure and work on one sentence's tags. Spans are the common
ground: every conversion goes tags -> spans -> tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from tagger.core.types import Span

Scheme = Literal["IOB1", "BIO", "BIOES"]
SCHEMES: tuple[str, ...] = ("IOB1", "BIO", "BIOES")
_PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}  # BILOU read as BIOES


class SchemeError(ValueError):
    """A tag sequence that breaks its scheme; ``index`` is the offending token."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(message)


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. Raises on anything else."""
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in _PREFIXES or not label:
        raise ValueError(f"{tag!r} is not a span tag (expected O or B-/I-/E-/S- followed by a label)")
    return _PREFIXES[prefix], label


def is_span_tagset(labels: Iterable[str]) -> bool:
    """Whether every label is ``O`` or prefix-label, with at least one non-``O``."""
    seen_entity = False
    for tag in labels:
        try:
            prefix, _ = split_tag(tag)
        except ValueError:
            return False
        seen_entity |= prefix != "O"
    return seen_entity


def normalize_scheme(name: str) -> Scheme:
    upper = name.upper().replace("IOB2", "BIO").replace("IOBES", "BIOES").replace("BILOU", "BIOES")
    if upper not in SCHEMES:
        raise ValueError(f"unknown tag scheme {name!r}; choose one of {', '.join(SCHEMES)} (or IOB2, IOBES)")
    return upper  # type: ignore[return-value]


def detect_scheme(sentences: Iterable[Sequence[str]]) -> Scheme:
    """Guess the scheme of tag sequences.

    E-/S- mean BIOES. An I- that opens a span means IOB1, unless B- also opens spans
    after O or another label (IOB1 never does that): then it is BIO with stray I- tags,
    which lenient reading repairs and strict reading rejects.
    """
    inside_opens = begin_opens = False
    for tags in sentences:
        previous = ""
        for tag in tags:
            prefix, label = split_tag(tag)
            if prefix in ("E", "S"):
                return "BIOES"
            if prefix == "I" and previous != label:
                inside_opens = True
            if prefix == "B" and previous != label:
                begin_opens = True
            previous = label if prefix != "O" else ""
    return "IOB1" if inside_opens and not begin_opens else "BIO"


def tags_to_spans(tags: Sequence[str], scheme: Scheme = "BIO", strict: bool = False) -> list[Span]:
    """Decode tags into spans. Lenient mode treats a stray I-/E- as the start of a span."""
    spans: list[Span] = []
    start, label = -1, ""

    def close(end: int) -> None:
        nonlocal start, label
        if start >= 0:
            spans.append(Span(start, end, label))
        start, label = -1, ""

    for i, tag in enumerate(tags):
        try:
            prefix, tag_label = split_tag(tag)
        except ValueError as error:
            raise SchemeError(i, str(error)) from None
        if prefix == "O":
            close(i)
            continue
        if scheme != "BIOES" and prefix in ("E", "S"):
            raise SchemeError(i, f"{tag!r} does not belong to the {scheme} scheme")
        continues = start >= 0 and label == tag_label and prefix in ("I", "E")
        if prefix in ("I", "E") and not continues and strict and scheme != "IOB1":
            raise SchemeError(i, f"{tag!r} continues no {tag_label} span (strict {scheme})")
        if not continues:
            close(i)
            start, label = i, tag_label
        if prefix in ("E", "S"):
            close(i + 1)
    close(len(tags))
    return spans


def spans_to_tags(spans: Iterable[Span], length: int, scheme: Scheme = "BIO") -> list[str]:
    """Encode non-overlapping spans as tags of ``scheme``."""
    tags = ["O"] * length
    previous_end, previous_label = -1, ""
    for span in sorted(spans, key=lambda s: s.start):
        size = span.end - span.start
        if scheme == "BIOES" and size == 1:
            tags[span.start] = f"S-{span.label}"
            continue
        if scheme == "IOB1":
            adjacent_same = previous_end == span.start and previous_label == span.label
            first = "B" if adjacent_same else "I"
        else:
            first = "B"
        tags[span.start] = f"{first}-{span.label}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.label}"
        if scheme == "BIOES":
            tags[span.end - 1] = f"E-{span.label}"
        previous_end, previous_label = span.end, span.label
    return tags


def convert(tags: Sequence[str], source: Scheme, target: Scheme, strict: bool = False) -> list[str]:
    """Re-encode one sentence's tags from ``source`` to ``target`` scheme."""
    return spans_to_tags(tags_to_spans(tags, source, strict), len(tags), target)


def span_labels(labels: Iterable[str]) -> list[str]:
    """The entity types behind a set of span tags, sorted."""
    return sorted({split_tag(tag)[1] for tag in labels} - {""})


def allowed_transition(previous: str, current: str, scheme: Scheme) -> bool:
    """Whether tag ``current`` may follow ``previous`` ("" stands for sentence start/end)."""
    prev_prefix, prev_label = split_tag(previous) if previous else ("START", "")
    cur_prefix, cur_label = split_tag(current) if current else ("END", "")
    ends_span = prev_prefix in ("START", "O") or (scheme == "BIOES" and prev_prefix in ("E", "S"))
    if scheme == "IOB1":
        # An I- may open a span; B- only directly after a span of the same label.
        if cur_prefix == "B":
            return prev_prefix in ("B", "I") and prev_label == cur_label
        return True
    if scheme == "BIO":
        if cur_prefix == "I":
            return prev_prefix in ("B", "I") and prev_label == cur_label
        return True
    # BIOES: an open span (after B- or I-) must continue with I-/E- of its label.
    if cur_prefix in ("I", "E"):
        return prev_prefix in ("B", "I") and prev_label == cur_label
    return ends_span
