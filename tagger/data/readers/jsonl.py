"""JSON Lines: ``{"tokens": [...], "tags": ...}`` records, or ``{"text": ...}`` for raw text.

``tags`` may be a list (read as the task named by ``columns``, or ``tags``) or an
object of task -> list. Other fields are kept in ``meta["record"]`` untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from tagger.data.readers.lines import read_lines
from tagger.errors import DataFormatError
from tagger.types import BadRecord, Sentence


def read_jsonl(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    tokens_field: str = "tokens",
    text_field: str = "text",
    lenient: bool = False,
) -> Iterator[Sentence | BadRecord]:
    """``lenient`` (for labelling): a line that cannot be read, or holds nothing to label, is a
    :class:`BadRecord` naming its line, and reading goes on."""
    for number, line in read_lines(path, lenient):
        if isinstance(line, BadRecord):
            yield line
            continue
        if not line.strip():
            continue
        try:
            sentence = _parse(line, path, number, columns, tokens_field, text_field)
            if lenient and not sentence.tokens and not (sentence.text or "").strip():
                raise DataFormatError(path, number, f"empty {tokens_field!r} or {text_field!r}: nothing to label")
        except DataFormatError as error:
            if not lenient:
                raise
            yield BadRecord(str(path), number, error.reason)
            continue
        yield sentence


def _parse(line: str, path: str | Path, number: int, columns: Mapping[str, str] | None, tokens_field: str, text_field: str) -> Sentence:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise DataFormatError(path, number, f"invalid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(record, dict):
        raise DataFormatError(path, number, "expected a JSON object per line")
    return record_to_sentence(record, path, number, columns, tokens_field, text_field)


def record_to_sentence(
    record: dict,
    path: str | Path,
    number: int,
    columns: Mapping[str, str] | None = None,
    tokens_field: str = "tokens",
    text_field: str = "text",
) -> Sentence:
    """Turn one JSON object into a Sentence, checking field types and lengths."""
    meta = {"source": str(path), "line": number, "record": record}
    tokens = record.get(tokens_field)
    if tokens is None:
        text = record.get(text_field)
        if not isinstance(text, str):
            raise DataFormatError(path, number, f"record has neither a {tokens_field!r} list nor a {text_field!r} string")
        return Sentence([], {}, text=text, meta=meta)
    if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
        raise DataFormatError(path, number, f"{tokens_field!r} must be a list of non-empty strings")
    tags: dict[str, list[str]] = {}
    if columns:
        for task, field in columns.items():
            if field in record:
                tags[task] = record[field]
            elif isinstance(record.get("tags"), dict) and field in record["tags"]:
                tags[task] = record["tags"][field]
    elif isinstance(record.get("tags"), dict):
        tags = dict(record["tags"])
    elif "tags" in record:
        tags = {"tags": record["tags"]}
    for task, labels in tags.items():
        if not isinstance(labels, list) or len(labels) != len(tokens) or not all(isinstance(x, str) for x in labels):
            raise DataFormatError(path, number, f"tags for {task!r} must be a list of {len(tokens)} strings")
    return Sentence(list(tokens), tags, text=record.get(text_field) if isinstance(record.get(text_field), str) else None, meta=meta)
