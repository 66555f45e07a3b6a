"""JSON Lines: ``{"tokens": [...], "tags": ...}`` records, or ``{"text": ...}`` for raw text.

``tags`` may be a list (read as the task named by ``columns``, or ``tags``) or an
object of task -> list. Other fields are kept in ``meta["record"]`` untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from tagger.core.errors import DataFormatError
from tagger.core.types import BadRecord, Sentence
from tagger.data.readers.lines import read_lines


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
    return record_to_sentence(parse_record(line, path, number), path, number, columns, tokens_field, text_field)


def parse_record(line: str, path: str | Path, number: int) -> dict:
    """One line as a JSON object that can be written back as standard JSON in UTF-8, else a
    DataFormatError naming the line: invalid JSON, NaN or Infinity (which strict parsers reject), a
    number out of range, an integer of more digits than Python reads, nesting too deep to read, or a
    lone surrogate escape such as ``"\\ud83d"`` (no character: it cannot be encoded)."""
    try:
        record = json.loads(line, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as error:
        raise DataFormatError(path, number, f"invalid JSON: {error.msg} (column {error.colno})") from None
    except ValueError as error:  # a constant or number refused above, or an integer past Python's digit limit
        raise DataFormatError(path, number, f"not standard JSON: {str(error).split(';')[0]}") from None
    except RecursionError:
        raise DataFormatError(path, number, "JSON nested too deeply to read") from None
    if not isinstance(record, dict):
        raise DataFormatError(path, number, "expected a JSON object per line")
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise DataFormatError(path, number, f"a lone surrogate escape {error.object[error.start]!r} stands for no character") from None
    return record


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of the range of a number")
    return value


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
