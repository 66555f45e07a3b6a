"""One run at a time per output: an advisory lock on ``OUTPUT.lock``, held while the run writes.

The lock is the kernel's (``flock``): it goes away with the process that held it, however that
process ended, so a lock file left by a killed run is simply taken over by the next one. The
file records the holder's PID, which a refused run names.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tagger.core.errors import TaggerError

logger = logging.getLogger(__name__)


class OutputLocked(TaggerError):
    """Another running process is writing the same output."""


def lock_path(target: Path) -> Path:
    target = Path(os.path.abspath(target))  # "." and "dir/.." have no name of their own; their absolute path has
    return target.with_name(target.name + ".lock")


@contextmanager
def hold(target: str | Path) -> Iterator[None]:
    """Hold the lock of ``target`` (a file or directory, which need not exist yet) for the block;
    raise OutputLocked at once, naming the holder's PID, when another process holds it."""
    target = Path(target)
    path = lock_path(target)
    created = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]  # deepest first
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a run that held a lock in a folder made for it alone removed the folder
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise OutputLocked(f"{target} is being written by another run (PID {holder}; lock file {path}): "
                               "wait for it to finish, or stop it") from None
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                break  # else the holder removed the file after we opened it: lock the new one
        except FileNotFoundError:
            pass
        os.close(descriptor)
    previous = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    if previous:
        logger.info("%s: taking over the lock of PID %s, which is no longer running", target, previous)
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still holding it: a run that opened it meanwhile retries
        os.close(descriptor)
        for folder in created:  # made for the lock alone: a run that wrote nothing leaves nothing
            try:
                folder.rmdir()
            except OSError:
                break
