"""CoNLL-2003 style column files and Universal NER ``.iob2`` files.

One token per line, columns separated by tabs (or by spaces when a line has no
tab), blank lines between sentences. ``-DOCSTART-`` lines are document breaks (so a token
``-DOCSTART-`` cannot be written to a column file). ``# key = value`` lines with no tab before a
sentence are kept as metadata (``.iob2`` files
carry ``sent_id`` and ``text`` that way). With ``keep_lines`` a sentence also keeps its token
lines as read (``meta["column_lines"]``) and the lines before it (``meta["column_prefix"]``:
comments, ``-DOCSTART-``, extra blank lines), so that annotating writes them back unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tagger.core.errors import DataFormatError
from tagger.core.types import Sentence
from tagger.data.readers.lines import read_lines


def read_columns(
    path: str | Path, columns: Mapping[str, int] | None = None, token_column: int = 0, keep_lines: bool = False
) -> Iterator[Sentence]:
    """Read tokens from ``token_column`` and one task per entry of ``columns`` (task -> column).

    With no ``columns``, the last column is read as task ``ner`` (the CoNLL-2003 habit).
    """
    tokens: list[str] = []
    rows: list[list[str]] = []
    raw: list[str] = []  # with keep_lines: the token lines as read
    prefix: list[str] = []  # and the lines since the previous sentence ended
    meta: dict[str, Any] = {}
    start_line = 0
    needed = max([token_column, *(columns or {}).values()]) + 1

    def finish() -> Sentence:
        if columns:
            tags = {task: [row[index] for row in rows] for task, index in columns.items()}
        else:
            tags = {"ner": [row[-1] for row in rows]} if all(len(row) > token_column + 1 for row in rows) else {}
        kept = {"column_prefix": list(prefix), "column_lines": list(raw)} if keep_lines else {}
        return Sentence(list(tokens), tags, text=meta.get("text"),
                        meta={"source": str(path), "line": start_line, "token_line": start_line, **meta, **kept})

    for number, line in read_lines(path):
        stripped = line.strip()
        if not stripped or stripped.startswith("-DOCSTART-"):
            if tokens:
                yield finish()
                prefix = []
            if keep_lines and (stripped or not tokens):  # the blank line ending a sentence is written with it
                prefix.append(line)
            tokens, rows, raw, meta, start_line = [], [], [], {}, 0
            continue
        if not tokens and stripped.startswith("#") and " = " in stripped and "\t" not in line:  # a token line has tabs
            key, _, value = stripped[1:].partition("=")
            meta[key.strip()] = value.strip()
            if keep_lines:
                prefix.append(line)
            continue
        fields = line.split("\t") if "\t" in line else stripped.split()
        if len(fields) < needed:
            raise DataFormatError(path, number, f"expected at least {needed} columns, found {len(fields)}")
        if not fields[token_column]:
            raise DataFormatError(path, number, "empty token")
        start_line = start_line or number
        tokens.append(fields[token_column])
        rows.append(fields)
        if keep_lines:
            raw.append(line)
    if tokens:
        yield finish()
