"""Streaming CoNLL-U: UPOS and XPOS per syntactic word, comments kept as metadata.

Multiword-token lines (``1-2``) are kept in ``meta["multiword"]`` so the surface text
stays recoverable; empty nodes (``8.1``) are skipped since they have no surface form.
With ``keep_lines`` each sentence also keeps its lines as read (``meta["conllu_lines"]``:
comments, ``# newdoc``, blank lines before it, multiword and empty-node lines), so that
``tagger annotate`` can write the file back changing only the columns a model predicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tagger.core.errors import DataFormatError
from tagger.core.types import NO_LABEL, Sentence
from tagger.data.readers.lines import read_lines

COLUMNS = 10


def read_conllu(path: str | Path, keep_lines: bool = False) -> Iterator[Sentence]:
    words: list[str] = []
    lines: list[str] = []  # with keep_lines: every line since the previous sentence ended
    upos: list[str] = []
    xpos: list[str] = []
    comments: dict[str, str] = {}
    multiword: list[list[Any]] = []
    start_line = token_line = 0

    def finish() -> Sentence:
        tags = {}  # "_" is an unspecified value: a token without that label
        if any(tag != "_" for tag in upos):
            tags["upos"] = [NO_LABEL if tag == "_" else tag for tag in upos]
        if any(tag != "_" for tag in xpos):
            tags["xpos"] = [NO_LABEL if tag == "_" else tag for tag in xpos]
        meta: dict[str, Any] = {"source": str(path), "line": start_line, "token_line": token_line, **comments}
        if multiword:
            meta["multiword"] = [list(m) for m in multiword]
        if keep_lines:
            meta["conllu_lines"] = list(lines)
        return Sentence(list(words), tags, text=comments.get("text"), meta=meta)

    for number, line in read_lines(path):
        if not line.strip():
            if words:
                yield finish()
                lines = []
            elif keep_lines:
                lines.append(line)
            words, upos, xpos, comments, multiword = [], [], [], {}, []
            start_line = token_line = 0
            continue
        if keep_lines:
            lines.append(line)
        start_line = start_line or number
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep:
                comments[key.strip()] = value.strip()
            continue
        fields = line.split("\t")
        if len(fields) != COLUMNS:
            raise DataFormatError(path, number, f"expected {COLUMNS} tab-separated CoNLL-U columns, found {len(fields)}")
        token_id = fields[0]
        if "." in token_id:
            continue
        if "-" in token_id:
            first, _, last = token_id.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise DataFormatError(path, number, f"bad multiword token id {token_id!r}")
            multiword.append([int(first) - 1, int(last), fields[1]])
            continue
        if not token_id.isdigit():
            raise DataFormatError(path, number, f"bad token id {token_id!r}")
        token_line = token_line or number
        if int(token_id) != len(words) + 1:
            raise DataFormatError(path, number, f"token id {token_id} out of sequence (expected {len(words) + 1})")
        words.append(fields[1])
        upos.append(fields[3])
        xpos.append(fields[4])
    if words:
        yield finish()
