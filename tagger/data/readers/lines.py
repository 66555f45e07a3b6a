"""Line-by-line reading that reports the file and line of undecodable bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tagger.errors import DataFormatError, not_utf8
from tagger.types import BadRecord


def read_lines(path: str | Path, lenient: bool = False) -> Iterator[tuple[int, str | BadRecord]]:
    """Yield ``(line_number, text)`` with the newline stripped; 1-based line numbers.

    Streams the file; a UTF-8 byte-order mark is dropped, and bytes that are not UTF-8 raise a
    :class:`DataFormatError` naming the line (``lenient``: give that line as a :class:`BadRecord`).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
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
