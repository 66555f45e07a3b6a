"""Line-by-line reading that reports the file and line of undecodable bytes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

from tagger.core.errors import DataFormatError, not_utf8
from tagger.core.types import BadRecord
from tagger.files.paths import is_stdin

MAX_LINE_BYTES = 8 * 1024 * 1024  # a longer line is refused unread, so that memory stays bounded whatever the input
MAX_RECORD_CHARS = 1_000_000  # characters of one record to label at most (spaCy's nlp.max_length): split longer documents


def read_lines(path: str | Path, lenient: bool = False) -> Iterator[tuple[int, str | BadRecord]]:
    """Yield ``(line_number, text)`` with the newline stripped; 1-based line numbers.

    Streams the file (``-``: standard input, read as it comes and left open); a UTF-8 byte-order
    mark is dropped, and bytes that are not UTF-8, or a line longer than MAX_LINE_BYTES, raise a
    :class:`DataFormatError` naming the line (``lenient``: give that line as a :class:`BadRecord`).
    """
    path = Path(path)
    stdin = is_stdin(path)
    if not stdin and not path.is_file():
        raise DataFormatError(path, None, "no such file")
    with nullcontext(sys.stdin.buffer) if stdin else path.open("rb") as handle:
        for number, raw in enumerate(_bounded_lines(handle), start=1):
            if raw is None:
                reason = f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB (not read): split the record"
                if not lenient:
                    raise DataFormatError(path, number, reason)
                yield number, BadRecord(str(path), number, reason)
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                reason = not_utf8(raw, error)
                if not lenient:
                    raise DataFormatError(path, number, reason) from None
                yield number, BadRecord(str(path), number, reason)
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")


def _bounded_lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """A binary file's lines; None for one longer than MAX_LINE_BYTES, which is read past a MiB at a time, never kept."""
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(1024 * 1024)
            yield None
        else:
            yield raw
