"""Plain text: one document per non-empty line, or one per file for a folder of text files.
Tokenization happens later (tagger.core.tokenize)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tagger.core.errors import not_utf8
from tagger.core.types import BadRecord, Sentence
from tagger.data.readers.lines import MAX_RECORD_CHARS, read_lines


def read_text(path: str | Path, lenient: bool = False) -> Iterator[Sentence | BadRecord]:
    """``lenient``: a line that is not UTF-8 is a :class:`BadRecord`, and reading goes on."""
    for number, line in read_lines(path, lenient):
        if isinstance(line, BadRecord):
            yield line
        elif line.strip():
            yield Sentence([], {}, text=line, meta={"source": str(path), "line": number})


def read_text_files(files: Iterable[Path]) -> Iterator[Sentence | BadRecord]:
    """One document per file, read whole; a file that is not UTF-8, or holds nothing but spaces, is a
    BadRecord with no line (the record is the whole file)."""
    for file in files:
        if file.stat().st_size > 4 * MAX_RECORD_CHARS:  # more characters than a record may have, even at 4 bytes each
            yield BadRecord(str(file), None, f"larger than {4 * MAX_RECORD_CHARS:,} bytes (not read): a document has "
                                             f"{MAX_RECORD_CHARS:,} characters at most; split it")
            continue
        data = file.read_bytes()
        try:
            text = data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as error:
            yield BadRecord(str(file), None, not_utf8(data, error))
            continue
        if not text.strip():
            yield BadRecord(str(file), None, "empty document, nothing to label")
            continue
        yield Sentence([], {}, text=text, meta={"source": str(file), "record": {"file": str(file)}})
