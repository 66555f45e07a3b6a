"""Plain text: one document per non-empty line. Tokenization happens later (tagger.tokenize)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tagger.readers.lines import read_lines
from tagger.types import Sentence


def read_text(path: str | Path) -> Iterator[Sentence]:
    for number, line in read_lines(path):
        if line.strip():
            yield Sentence([], {}, text=line, meta={"source": str(path), "line": number})
