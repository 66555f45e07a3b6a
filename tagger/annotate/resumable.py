"""An output file that survives a stop: written to ``OUTPUT.partial``, renamed to ``OUTPUT`` only when
the whole input is done, with what it is and how far it got in ``OUTPUT.partial.progress``.

After every chunk of records the written sizes of the output and the errors file and the number of
input records done are recorded; a resume cuts both files back to those sizes (dropping a
half-written tail) and skips that many records, so the run continues with no duplicate and no gap.

The progress file also records what the run is (:func:`run_identity`: the input's path, the model's
weights and labels, the options that shape the output) and what it has read: for text and JSONL the
sha256 of the input's lines up to the last record done (so a resume may follow a fix further on, as
after ``--strict``), for other inputs the sha256 of the whole input. A resume that differs in any of
them is refused, naming what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

from tagger.annotate.inputs import by_lines
from tagger.core.config import changed_keys
from tagger.core.errors import TaggerError, write_failed, writing
from tagger.core.model_info import ModelInfo
from tagger.core.types import BadRecord, Sentence
from tagger.files.atomic import write_atomic
from tagger.files.paths import input_files, is_stdin


def partial_files(output: Path) -> tuple[Path, Path]:
    """The output while it is written, and the record of how far it got."""
    return output.with_name(output.name + ".partial"), output.with_name(output.name + ".partial.progress")


def resumed_records(output: str | Path) -> int:
    """Records an interrupted run into ``output`` has done (what ``resume`` will skip)."""
    partial, progress_file = partial_files(Path(output))
    if not progress_file.is_file() or not partial.is_file():
        return 0
    return json.loads(progress_file.read_text(encoding="utf-8"))["records"]


def check_resumable(output: Path, resume: bool, overwrite: bool) -> None:
    """Without ``overwrite``, refuse an interrupted run's partial output that ``resume`` would not
    continue, and a finished output that ``resume`` cannot."""
    if overwrite:
        return
    partial = partial_files(output)[0]
    if not resume and resumed_records(output):  # a partial output with nothing done yet loses nothing
        raise TaggerError(f"{partial} holds an interrupted run's output: --resume continues it, --overwrite starts again")
    if output.exists() and resume and not partial.is_file():
        raise TaggerError(f"{output} exists and is finished: there is nothing to resume (--overwrite labels it again)")


def input_digest(path: Path) -> str:
    """Size and sha256 of a file's bytes; for a folder, glob or dataset, of its files' names, sizes and
    modification times (hashing every byte of a large collection would cost a pass over it)."""
    if is_stdin(path):
        return "standard input"
    files = input_files(path)
    if files is None:
        if not path.is_file():
            return "missing"
        with path.open("rb") as handle:
            return f"{path.stat().st_size} bytes, sha256 {hashlib.file_digest(handle, 'sha256').hexdigest()}"
    listing = hashlib.sha256()
    for file in files:
        stat = file.stat()
        listing.update(f"{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return f"{len(files)} files, listing sha256 {listing.hexdigest()}"


class LinePrefix:
    """The sha256 of an input file's first lines, carried forward as the run goes (each line is read twice)."""

    def __init__(self, path: Path) -> None:
        self.handle, self.hash, self.lines = path.open("rb"), hashlib.sha256(), 0

    def through(self, line: int) -> str:
        open_line = False  # a piece of a line read, its end not yet (lines are read a MiB at a time: memory stays bounded)
        while self.lines < line:
            piece = self.handle.readline(1024 * 1024)
            if piece:
                self.hash.update(piece)
            if piece.endswith(b"\n") or (not piece and open_line):
                self.lines += 1
            if not piece:
                break
            open_line = not piece.endswith(b"\n")
        return self.hash.hexdigest()

    def close(self) -> None:
        self.handle.close()


class ResumableOutput:
    """``output`` and its errors file, written through their ``.partial`` files; ``identity`` is what
    the run is (see :func:`run_identity`). Opening with ``resume`` continues an interrupted run's
    files, after checking that it was the same run over the same input."""

    def __init__(self, input_path: Path, input_format: str, output: Path, errors_path: Path, identity: dict[str, Any],
                 resume: bool) -> None:
        self.output, self.errors_path = output, errors_path
        self.partial, self.progress_file = partial_files(output)
        self.errors_partial = errors_path.with_name(errors_path.name + ".partial")
        self.state: dict[str, Any] = {"records": 0, "output_bytes": 0, "errors_bytes": 0, "done": 0, "failed": 0, "identity": identity}
        self.resumed = 0
        if resume and self.progress_file.is_file() and self.partial.is_file():
            self._continue(input_path, input_format, identity)
        with self.writing():
            output.parent.mkdir(parents=True, exist_ok=True)
            errors_path.parent.mkdir(parents=True, exist_ok=True)
            self.out = _open_at(self.partial, self.state["output_bytes"])
            try:
                self.errors = _open_at(self.errors_partial, self.state["errors_bytes"])
            except BaseException:
                self.out.close()
                raise
        self.prefix = LinePrefix(input_path) if by_lines(input_path, input_format) else None

    def _continue(self, input_path: Path, input_format: str, identity: dict[str, Any]) -> None:
        state = json.loads(self.progress_file.read_text(encoding="utf-8"))
        changed = [f"{key}: {_short(old)} -> {_short(new)}" for key, old, new in changed_keys(state.get("identity", identity), identity)]
        if changed:
            raise TaggerError(f"cannot resume {self.output}: this run differs from the one that wrote {self.partial} "
                              f"({'; '.join(changed)}); rerun without --resume and with --overwrite to start again")
        if by_lines(input_path, input_format):
            _check_prefix(input_path, state, self.output)
        if state["errors_bytes"] and not self.errors_partial.exists() and self.errors_path.is_file():
            os.replace(self.errors_path, self.errors_partial)  # stopped between the two final renames
        self.state, self.resumed = state, state["records"]

    def writing(self) -> AbstractContextManager[None]:
        """Where a write error (a full disk) becomes a WriteFailed saying what is kept and how to go on."""
        return writing(self.partial, self._kept())

    def _kept(self) -> str:
        kept = f"the {self.state['records']:,} records done before are kept in {self.partial}" if self.state["records"] else "nothing was labelled yet"
        return f"{kept[0].upper()}{kept[1:]}: free some space and rerun with --resume to continue."

    def write(self, text: str) -> None:
        try:
            self.out.write(text)
        except OSError as error:  # a try per record, not a context manager: this runs once per record
            raise write_failed(error, self.partial, self._kept()) from error
        self.state["done"] += 1

    def reject(self, bad: BadRecord) -> None:
        reason = bad.reason if bad.line is not None else f"{bad.source}: {bad.reason}"  # a whole file: named
        try:
            self.errors.write(json.dumps({"line": bad.line, "reason": reason}) + "\n")
        except OSError as error:
            raise write_failed(error, self.errors_partial, self._kept()) from error
        self.state["failed"] += 1

    def checkpoint(self, chunk: list[Sentence | BadRecord]) -> None:
        """Record that ``chunk``'s records are written: sync both files, then the progress file."""
        done = {"records": self.state["records"] + len(chunk)}
        if self.prefix is not None:
            last = chunk[-1]
            done["input_lines"] = last.line if isinstance(last, BadRecord) else last.meta["line"]
            done["input_sha256"] = self.prefix.through(done["input_lines"])
        with self.writing():
            state = {**self.state, **done, "output_bytes": _sync(self.out), "errors_bytes": _sync(self.errors)}
            write_atomic(self.progress_file, json.dumps(state))
        self.state = state

    def finish(self) -> Path | None:
        """Rename the finished files into place; the errors file's path, or None when there were no bad records."""
        with self.writing():
            for handle in (self.out, self.errors):
                handle.close()
            errors: Path | None = self.errors_path
            if self.state["failed"]:  # the errors file first: a finished OUTPUT means its errors are in place too
                os.replace(self.errors_partial, self.errors_path)
            else:
                self.errors_partial.unlink(missing_ok=True)
                errors = None
            os.replace(self.partial, self.output)
            self.progress_file.unlink(missing_ok=True)
        self.close()
        return errors

    def close(self) -> None:
        for handle in (self.out, self.errors):
            try:
                handle.close()
            except OSError:  # what was not flushed lies past the last checkpoint, which a resume goes back to
                pass
        if self.prefix is not None:
            self.prefix.close()


def run_identity(tagger: Any, input_path: Path, input_format: str, output_format: str, options: Any) -> dict[str, object]:
    """What an annotate run is, as its progress file records it: a resume must match every field.
    ``options`` is the run's :class:`tagger.annotate.AnnotateOptions`."""
    return {
        "input": str(input_path.resolve()),
        "input_content": "read line by line" if by_lines(input_path, input_format) else input_digest(input_path),
        **labelling_identity(tagger.info, tagger.precision, options, input_format, output_format),
    }


def labelling_identity(info: ModelInfo, precision: str, options: Any, input_format: str, output_format: str) -> dict[str, object]:
    """How a run labels, whatever its input: the model's weights and labels, the precision and the options
    that shape the output. A resume (of a file, or of a Ray run's shards) must find every field again."""
    return {
        "model_weights": info.meta.get("sha256", {}).get("model.safetensors", ""),
        "labels": {task: list(spec.labels) for task, spec in info.tasks.items()},
        "precision": precision,
        "options": output_options(options, input_format, output_format, list(info.tasks)),
    }


def output_options(options: Any, input_format: str, output_format: str, model_tasks: list[str]) -> dict[str, object]:
    """The options that shape an output, as a resume must find them again. ``tasks`` is recorded as
    a set, and only when it leaves some of the model's tasks out; ``scores`` only when set: so
    equivalent runs match, and runs from before these options still resume."""
    shaping: dict[str, object] = {"input_format": input_format, "output_format": output_format, "text_field": options.text_field,
                                  "tokens_field": options.tokens_field, "split": options.split}
    if options.tasks is not None and set(options.tasks) != set(model_tasks):
        shaping["tasks"] = sorted(set(options.tasks))
    if options.scores:
        shaping["scores"] = True
    if options.label_map:
        shaping["label_map"] = dict(sorted(options.label_map.items()))
    return shaping


def _check_prefix(input_path: Path, state: dict[str, object], output: Path) -> None:
    """Refuse a resume whose input's lines, up to the last record the interrupted run did, changed."""
    lines = int(state.get("input_lines", 0))  # type: ignore[call-overload]
    if not lines or "input_sha256" not in state:
        return
    prefix = LinePrefix(input_path)
    try:
        digest, read = prefix.through(lines), prefix.lines
    finally:
        prefix.close()
    if read < lines or digest != state["input_sha256"]:
        raise TaggerError(f"cannot resume {output}: lines 1-{lines} of {input_path}, which the interrupted run labelled, "
                          "have changed since; rerun without --resume and with --overwrite to start again")


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _open_at(path: Path, size: int) -> IO[str]:
    """Open a file for writing from byte ``size`` on: 0 starts it anew, more cuts it back to that size."""
    if size and path.is_file():
        with path.open("r+b") as handle:
            handle.truncate(size)
        return path.open("a", encoding="utf-8", newline="\n")
    if size:
        raise TaggerError(f"cannot resume: {path} is missing")
    return path.open("w", encoding="utf-8", newline="\n")


def _sync(handle: IO[str]) -> int:
    """Flush to disk; the file's size in bytes."""
    handle.flush()
    os.fsync(handle.fileno())
    return os.fstat(handle.fileno()).st_size
