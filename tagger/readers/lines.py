"""Line-by-line reading that reports the file and line of undecodable bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tagger.errors import DataFormatError


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` with the newline stripped; 1-based line numbers.

    Streams the file; a UTF-8 byte-order mark is dropped, and bytes that are not
    UTF-8 raise a :class:`DataFormatError` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataFormatError(
                    path, number, f"not valid UTF-8 (byte {error.start}: {raw[error.start:error.start + 4]!r})"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")
