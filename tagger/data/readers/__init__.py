"""Corpus readers: one streaming function per format, chosen by name or file extension."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tagger.core.errors import DataFormatError
from tagger.core.types import BadRecord, Sentence
from tagger.data.formats import format_of, known_suffixes
from tagger.data.readers.columns import read_columns
from tagger.data.readers.conllu import read_conllu
from tagger.data.readers.docbin import read_docbin
from tagger.data.readers.jsonl import read_jsonl
from tagger.data.readers.text import read_text

FORMATS: dict[str, Callable[..., Iterator[Sentence | BadRecord]]] = {
    "conllu": read_conllu,
    "conll": read_columns,
    "iob2": read_columns,
    "jsonl": read_jsonl,
    "text": read_text,
    "spacy": read_docbin,
}
# Column layouts that a format implies when the config names none.
DEFAULT_COLUMNS: dict[str, dict[str, Any]] = {"iob2": {"columns": {"ner": 2}, "token_column": 1}}


def infer_format(path: str | Path) -> str:
    fmt = format_of(path)
    if fmt not in FORMATS:
        raise DataFormatError(path, None, f"cannot tell the format from the extension {Path(path).suffix.lower()!r}; give it explicitly. "
                              f"Known: {known_suffixes(tuple(FORMATS))}")
    return fmt


LENIENT_FORMATS = ("text", "jsonl")  # one record per line: a bad line is one bad record


def read_corpus(path: str | Path, fmt: str | None = None, **options: Any) -> Iterator[Sentence]:
    """Stream Sentences from ``path`` in format ``fmt`` (inferred from the extension when None).

    Options go to the reader (``columns``, ``token_column`` for column files; ``columns``,
    ``tokens_field``, ``text_field`` for JSONL; ``keep_lines`` for CoNLL-U and column files).
    Raises :class:`DataFormatError` at the first malformed line, or if the file holds no sentence.
    """
    return _read(path, fmt, lenient=False, **options)  # type: ignore[return-value]


def read_records(path: str | Path, fmt: str | None = None, **options: Any) -> Iterator[Sentence | BadRecord]:
    """As :func:`read_corpus`, for labelling: text and JSONL files give each line that cannot be read
    (or holds nothing to label) as a :class:`BadRecord` and go on, and may be empty; other formats
    are read strictly."""
    fmt = fmt or infer_format(path)
    return _read(path, fmt, lenient=fmt in LENIENT_FORMATS, **options)


def _read(path: str | Path, fmt: str | None, lenient: bool, **options: Any) -> Iterator[Sentence | BadRecord]:
    fmt = fmt or infer_format(path)
    if fmt not in FORMATS:
        raise DataFormatError(path, None, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    reader = FORMATS[fmt]
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("columns") is None:
        given.pop("token_column", None)  # a column layout comes whole: from the caller or the format
    if lenient:
        given["lenient"] = True
    accepted = inspect.signature(reader).parameters
    options = {k: v for k, v in {**DEFAULT_COLUMNS.get(fmt, {}), **given}.items() if k in accepted}
    empty = True
    for sentence in reader(path, **options):
        empty = False
        if isinstance(sentence, Sentence) and (problem := sentence.problem()) is not None:
            line = sentence.meta.get("line")
            if not lenient:
                raise DataFormatError(path, line, f"the sentence starting here: {problem}")
            sentence = BadRecord(str(path), line, problem)
        yield sentence
    if empty and not lenient:
        raise DataFormatError(path, None, "the file holds no sentence (empty input)")
