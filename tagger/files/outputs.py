"""Every file or folder a command writes is an output, with one set of rules, checked before any work.

An output (``-o``, ``--errors``, ``--report``, ``export-spacy``'s folder, ``benchmark -o``) is refused
when it is what the run reads (the file itself by any name, a file of an input folder or glob, a
folder holding an input), when it is another output of the run or one of its working files
(``.partial``, ``.lock``), when it lies inside a model directory (a model's files are never a place to
write to), or when it exists, unless ``overwrite``; a folder is replaced only when it holds what the
command writes, and never when it is the working folder. The run then holds every output's lock
(:mod:`tagger.files.locking`) until it ends, so that a second run writing any of the same files is refused
at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tagger.core.errors import TaggerError
from tagger.files.locking import hold, lock_path
from tagger.files.paths import input_files, is_glob

MODEL_MARKERS = ("config.json", "vocab.json")  # both in a folder: a model directory (or its checkpoint)


@dataclass(frozen=True)
class Output:
    """A path a run writes, named as the user gave it (``--errors``, ``--output``, ...)."""

    path: Path
    option: str
    folder: bool = False  # a folder of files (a report, a pipeline) rather than one file
    may_exist: bool = False  # an existing one is continued, not replaced (a resumed run's)
    companions: tuple[Path, ...] = ()  # working files written beside it (``OUTPUT.partial``...)
    written_by_us: Callable[[Path], bool] | None = None  # a folder: whether what it holds is this command's (--overwrite replaces only that)

    def owned(self) -> dict[Path, str]:
        """Every path this output writes (itself, its lock, its companions), resolved, with what it is."""
        paths = {self.path.resolve(): self.option, lock_path(self.path).resolve(): f"the lock of {self.option}"}
        return paths | {path.resolve(): f"a working file of {self.option}" for path in self.companions}


@contextmanager
def claim(outputs: Iterable[Output], inputs: Iterable[str | Path], overwrite: bool) -> Iterator[None]:
    """Check ``outputs`` against each other, the ``inputs`` and the file system, and hold their locks
    for the block: checked again once locked, since a run that held them may just have written them."""
    outputs, inputs = list(outputs), list(inputs)
    check_outputs(outputs, inputs, overwrite)
    with ExitStack() as stack:
        for output in outputs:
            stack.enter_context(hold(output.path))
        check_outputs(outputs, inputs, overwrite)
        yield


def check_outputs(outputs: list[Output], inputs: Iterable[str | Path], overwrite: bool) -> None:
    """Raise TaggerError naming the first output that breaks a rule (see the module's docstring)."""
    existing_inputs = [Path(path) for path in inputs if Path(path).exists() or is_glob(path)]
    for output in outputs:
        where = f"{output.option} {output.path}"
        resolved = output.path.resolve()
        for other in outputs:
            if other is not output and (what := other.owned().get(resolved)) is not None:
                raise TaggerError(f"{where} is also {what}: give each output its own file")
        model = model_directory_around(resolved)
        if model is not None:
            raise TaggerError(f"{where} is inside the model directory {model}; write it elsewhere")
        for input_path in existing_inputs:
            if overlaps(output.path, input_path):
                raise TaggerError(f"{where} would write over the input {input_path}; write it elsewhere")
        if output.folder:
            if output.path.exists() and not output.path.is_dir():
                raise TaggerError(f"{where} is a file; give a folder")
            if Path.cwd().resolve().is_relative_to(resolved):  # replaced whole, it would take the working folder with it
                raise TaggerError(f"{where} is the current folder or holds it; give a folder of its own")
            occupied = output.path.is_dir() and any(output.path.iterdir())
        else:
            if output.path.is_dir():
                raise TaggerError(f"{where} is a directory; give a file name")
            occupied = output.path.exists() or output.path.is_symlink()
        if occupied and not overwrite and not output.may_exist:
            raise TaggerError(f"{where} exists{' and is not empty' if output.folder else ''}; add --overwrite to replace it, or choose another name")
        if occupied and output.written_by_us is not None and not output.written_by_us(output.path):
            raise TaggerError(f"{where} holds files this command did not write; --overwrite replaces only such a folder: "
                              "give a new or empty folder")


def overlaps(path: Path, input_path: Path) -> bool:
    """Whether writing ``path`` would write over ``input_path``: the input file itself (by any name), one of
    a glob's files, a file inside an input folder, or a folder that holds the input."""

    resolved, source = path.resolve(), input_path.resolve()
    if resolved == source or source.is_relative_to(resolved):
        return True
    if path.exists() and input_path.exists() and os.path.samefile(path, input_path):
        return True
    if input_path.is_dir():
        return resolved.is_relative_to(source)
    files = input_files(input_path)
    return files is not None and resolved in {file.resolve() for file in files}


def model_directory_around(path: Path) -> Path | None:
    """The model directory ``path`` is in, or is (a folder with a model's config.json and vocab.json), else None."""
    for folder in (path, *path.parents):
        if folder.is_dir() and all((folder / marker).is_file() for marker in MODEL_MARKERS):
            return folder
    return None

