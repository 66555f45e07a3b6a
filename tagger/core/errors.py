"""Errors a user can act on: each names the file and line, config key or model directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class TaggerError(Exception):
    """Base class of every error this package raises on purpose."""


class DataFormatError(TaggerError):
    """Input data that cannot be read, located by file and (1-based) line."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class InputError(TaggerError, ValueError):
    """A value given to the Python API that it cannot label (None, bytes, a dict, a number, a token
    that is not a string, text that is not encodable, a batch size below 1)."""


class ConfigError(TaggerError, ValueError):
    """A config value or run option that is missing, unknown, out of range or of the wrong type, named by
    (dotted) key: the same words from every front end."""

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        self.key = key
        self.reason = message  # without the key: what a command-line option's usage error says
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key + ': ' if key else ''}{message}")


class ModelFormatError(TaggerError):
    """A model directory that is incomplete, of another format version or inconsistent."""


def not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    """What is wrong with bytes that are not UTF-8, as every reader (and the config) says it."""
    return f"not valid UTF-8 (byte {error.start}): {data[error.start:error.start + 4]!r}"


class WriteFailed(TaggerError):
    """Writing an output failed (a full disk, a quota, a lost mount, no permission): names the path
    and what is safe to do next."""


@contextmanager
def writing(path: str | Path, then: str) -> Iterator[None]:
    """Turn an OSError raised while writing ``path`` into a WriteFailed naming the file the system
    named (else ``path``), its reason and ``then``: what was kept and how to go on."""
    try:
        yield
    except OSError as error:
        raise write_failed(error, path, then) from error


def write_failed(error: OSError, path: str | Path, then: str) -> WriteFailed:
    """What :func:`writing` raises, for a write in a loop too hot for a context manager per call."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return WriteFailed(f"cannot write {error.filename or path}: {reason}. {then}")
