"""Files written whole or not at all: through a temporary file beside the target, then renamed.

A reader (or a run that was killed half-way) never sees half a file: the rename is atomic on one
file system, and a failed write removes its temporary file and leaves the target as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block ends
    without an error, removed when it raises."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        error.filename = str(path)  # an error names the file being written, not its temporary name
        raise
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        temporary.chmod(0o644)  # temporary files are private; what they become is not
        os.replace(temporary, path)
    except OSError as error:
        error.filename = str(path)
        raise
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A new folder beside ``path`` to write into; it replaces ``path`` (and whatever was there) when the
    block ends without an error, and is removed when it raises: a reader never sees half a folder, and
    the old one is moved aside before the new one takes its name, so that one of them is always whole."""
    path = Path(os.path.abspath(path))  # "dir/.." has a parent of its own once made absolute
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    aside = None
    try:
        yield temporary
        temporary.chmod(0o755)
        if path.exists() or path.is_symlink():
            aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, aside / path.name)
        temporary.rename(path)
    except BaseException:
        if aside is not None and not path.exists():
            os.replace(aside / path.name, path)  # the new one did not take its place: the old one goes back
        raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
