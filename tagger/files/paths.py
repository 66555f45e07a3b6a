"""Which files an input path names: one file, a folder's files, a glob's matches, or standard input (``-``)."""

from __future__ import annotations

import glob
from pathlib import Path

STDIN = "-"  # the input path that stands for standard input


def input_files(pattern: str | Path) -> list[Path] | None:
    """The files of a directory or a glob pattern, sorted (one document each); None for a single file
    (one that exists is that file, whatever characters its name holds: ``[draft]notes.txt``), for a
    path that is neither, and for standard input. A folder or glob with no file gives an empty list."""
    pattern = str(pattern)
    if is_stdin(pattern):
        return None
    if Path(pattern).is_dir():
        return sorted(p for p in Path(pattern).rglob("*") if p.is_file() and not p.name.startswith("."))
    if is_glob(pattern):
        return sorted(p for p in map(Path, glob.glob(pattern, recursive=True)) if p.is_file())
    return None


def is_glob(pattern: str | Path) -> bool:
    """Whether ``pattern`` names files by matching: it has glob characters and is no existing file or
    folder (a file named ``[draft]notes.txt`` is that file)."""
    return any(c in str(pattern) for c in "*?[") and not is_stdin(pattern) and not Path(pattern).exists()


def is_stdin(path: str | Path) -> bool:
    """Whether ``path`` is ``-``, standard input (a file named ``-`` is ``./-``)."""
    return str(path) == STDIN
