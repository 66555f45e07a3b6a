"""``tagger annotate``: label a file record by record, keep going past bad records, resume after a stop.

Output goes to ``OUTPUT.partial`` and is renamed to ``OUTPUT`` only when the whole input is done.
After every chunk of records the written sizes of the output and the errors file and the number
of input records done are recorded in ``OUTPUT.partial.progress``; ``resume`` cuts both files back
to those sizes (dropping a half-written tail) and skips that many records, so an interrupted run
continues with no duplicate and no gap.

The progress file also records what the run is (:func:`run_identity`: the input's path, the
model's weights and labels, the options that shape the output) and what it has read: for text and
JSONL the sha256 of the input's lines up to the last record done (so a resume may follow a fix
further on, as after ``--strict``), for other inputs the sha256 of the whole input. A resume that
differs in any of them is refused, naming what changed. A run holds ``OUTPUT.lock`` (:mod:`tagger.locking`), so a
second run into the same output is refused at once; an existing output is replaced only with
``overwrite``, and never when it is the input.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from tagger.config import changed_keys
from tagger.errors import DataFormatError, TaggerError
from tagger.locking import hold
from tagger.predict import Tagger
from tagger.readers import read_corpus
from tagger.readers.jsonl import record_to_sentence
from tagger.runtime import cores_per_process
from tagger.types import Prediction, Sentence
from tagger.writers import format_prediction

LENIENT_FORMATS = ("text", "jsonl")  # one record per line: a bad line is one failed record


@dataclass
class RecordError:
    line: int | None
    reason: str


@dataclass
class AnnotateSummary:
    done: int = 0  # records labelled and written
    failed: int = 0  # bad records, listed in the errors file
    resumed: int = 0  # records a previous run had done
    seconds: float = 0.0
    errors_path: Path | None = None


def infer_input_format(path: str | Path) -> str:
    """A saved ``datasets`` folder is "dataset", another folder or a glob is text files, else by extension."""
    from tagger.readers import infer_format

    if any((Path(path) / marker).is_file() for marker in ("dataset_info.json", "dataset_dict.json")):
        return "dataset"
    return "text" if input_files(path) is not None else infer_format(path)


def input_files(pattern: str | Path) -> list[Path] | None:
    """The files of a directory or a glob pattern, sorted (one document each); None for a single file."""
    pattern = str(pattern)
    if Path(pattern).is_dir():
        return sorted(p for p in Path(pattern).rglob("*") if p.is_file() and not p.name.startswith("."))
    if any(c in pattern for c in "*?["):
        return sorted(p for p in map(Path, glob.glob(pattern, recursive=True)) if p.is_file())
    return None


def count_records(path: str | Path, fmt: str) -> int | None:
    """How many records ``read_records`` will give, when a quick pass can tell (for a progress bar's ETA).

    Text and JSONL count their non-blank lines (a bad line is a record too) and a folder or glob
    its files; other inputs give None.
    """
    files = input_files(path) if fmt != "dataset" else None
    if files is not None:
        return len(files)
    if fmt not in LENIENT_FORMATS or not Path(path).is_file():
        return None
    with Path(path).open("rb") as handle:  # roughly: a line of only exotic spaces is counted, then skipped
        return sum(1 for raw in handle if raw.strip())


def resumed_records(output: str | Path) -> int:
    """Records an interrupted run into ``output`` has done (what ``resume`` will skip)."""
    partial, progress_file = partial_files(Path(output))
    if not progress_file.is_file() or not partial.is_file():
        return 0
    return json.loads(progress_file.read_text(encoding="utf-8"))["records"]


def partial_files(output: Path) -> tuple[Path, Path]:
    """The output while it is written, and the record of how far it got."""
    return output.with_name(output.name + ".partial"), output.with_name(output.name + ".partial.progress")


def read_records(path: Path, fmt: str, text_field: str = "text", tokens_field: str = "tokens", split: str = "train") -> Iterator[Sentence | RecordError]:
    """The input's records in order: Sentences, or RecordErrors for records that cannot be read.

    Text and JSONL files fail per line, and a folder or glob of text files (one document per
    file) per file; the other formats are read whole, so a malformed line there stops the run
    (a DataFormatError naming file and line). ``fmt`` "dataset" reads a ``datasets`` dataset.
    """
    files = input_files(path) if fmt != "dataset" else None
    if files is not None and fmt != "text":
        raise DataFormatError(path, None, f"a folder or glob is read as text files (one document each), not as {fmt!r}: "
                                          f"give one {fmt} file, or --format text")
    if files is not None:
        for file in files:
            try:
                text = file.read_bytes().decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError as error:
                yield RecordError(None, f"{file}: not valid UTF-8 (byte {error.start})")
                continue
            if not text.strip():
                yield RecordError(None, f"{file}: empty document, nothing to label")
                continue
            yield Sentence([], {}, text=text, meta={"source": str(file), "record": {"file": str(file)}})
        return
    if fmt == "dataset":
        from tagger.readers.hf_datasets import read_dataset

        for sentence in read_dataset(str(path), split, {}, tokens_field, None, text_field):
            yield Sentence(sentence.tokens, {}, sentence.text, None, sentence.meta)
        return
    if fmt not in LENIENT_FORMATS:
        for sentence in read_corpus(path, fmt, keep_lines=True):  # so that CoNLL-U and column lines are written back whole
            yield Sentence(sentence.tokens, {}, sentence.text, None, sentence.meta)
        return
    if not path.is_file():
        raise DataFormatError(path, None, "no such file")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                yield RecordError(number, f"not valid UTF-8 (byte {error.start})")
                continue
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            if fmt == "text":
                yield Sentence([], {}, text=line, meta={"source": str(path), "line": number})
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                yield RecordError(number, f"invalid JSON: {error.msg} (column {error.colno})")
                continue
            if not isinstance(record, dict):
                yield RecordError(number, "expected a JSON object")
                continue
            try:
                sentence = record_to_sentence(record, path, number, None, tokens_field, text_field)
            except DataFormatError as error:
                yield RecordError(number, error.reason)
                continue
            if not sentence.tokens and not (sentence.text or "").strip():
                yield RecordError(number, f"empty {tokens_field!r} or {text_field!r}: nothing to label")
                continue
            yield sentence


def annotate_file(
    tagger: Tagger,
    input_path: str | Path,
    output: str | Path,
    *,
    input_format: str,
    output_format: str,
    batch_size: int = 256,
    text_field: str = "text",
    tokens_field: str = "tokens",
    errors_path: str | Path | None = None,
    resume: bool = False,
    strict: bool = False,
    split: str = "train",
    workers: int = 1,
    model_dir: str | Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> AnnotateSummary:
    """Label ``input_path`` into ``output`` (see the module docstring for the guarantees).

    Bad records go to ``errors_path`` (default ``OUTPUT`` with ``.errors.jsonl``) as JSON lines
    with their line number and reason, and the run goes on; with ``strict`` the first one
    stops it (the partial output stays, for ``resume`` once the input is fixed). ``workers`` > 1
    labels chunks in that many processes (each loading ``model_dir``), written in input order.
    ``on_progress(records, words)`` is called after each chunk with what it held.
    """
    input_path, output = Path(input_path), Path(output)
    if output_format == "spacy" and resume:
        raise TaggerError("a .spacy output is written whole at the end; it cannot resume (write JSONL to resume)")
    errors_path = Path(errors_path) if errors_path else output.with_name(output.stem + ".errors.jsonl")
    with hold(output):
        check_outputs(input_path, output, errors_path, resume, overwrite)
        if output_format == "spacy":
            return _annotate_to_docbin(tagger, input_path, output, input_format, batch_size, text_field, tokens_field,
                                       split, strict, workers, model_dir, on_progress)
        identity = run_identity(tagger, input_path, input_format, output_format, text_field, tokens_field, split)
        return _annotate_to_lines(tagger, input_path, output, errors_path, identity, input_format, output_format, batch_size,
                                  text_field, tokens_field, resume, strict, split, workers, model_dir, on_progress)


def check_outputs(input_path: Path, output: Path, errors_path: Path, resume: bool, overwrite: bool) -> None:
    """Refuse, before anything is read, an output that is a directory or the input; without
    ``overwrite`` also an existing output, or an interrupted run's partial one, that ``resume``
    would not continue."""
    for path, what in ((output, "output"), (errors_path, "errors file")):
        if path.is_dir():
            raise TaggerError(f"{path}: the {what} is a directory; give a file name")
        if _is_input(path, input_path):
            raise TaggerError(f"{path}: the {what} would overwrite the input {input_path}; write it elsewhere")
    if overwrite:
        return
    partial = partial_files(output)[0]
    if not resume and resumed_records(output):  # a partial output with nothing done yet loses nothing
        raise TaggerError(f"{partial} holds an interrupted run's output: --resume continues it, --overwrite starts again")
    if output.exists() and not resume:
        raise TaggerError(f"{output} exists: --overwrite replaces it")
    if output.exists() and not partial.is_file():
        raise TaggerError(f"{output} exists and is finished: there is nothing to resume (--overwrite labels it again)")


def _is_input(path: Path, input_path: Path) -> bool:
    """Whether writing ``path`` would write over the input: the input file itself (by any name),
    one of a glob's files, or a file inside an input folder."""
    resolved = path.resolve()
    if resolved == input_path.resolve() or (path.exists() and input_path.exists() and os.path.samefile(path, input_path)):
        return True
    if input_path.is_dir():
        return resolved.is_relative_to(input_path.resolve())
    files = input_files(input_path)
    return files is not None and resolved in {file.resolve() for file in files}


def run_identity(tagger: Tagger, input_path: Path, input_format: str, output_format: str, text_field: str, tokens_field: str,
                 split: str) -> dict[str, object]:
    """What an annotate run is, as its progress file records it: a resume must match every field."""
    return {
        "input": str(input_path.resolve()),
        "input_content": "read line by line" if _by_lines(input_path, input_format) else input_digest(input_path),
        "model_weights": tagger.meta.get("sha256", {}).get("model.safetensors", ""),
        "labels": {task: index.items for task, index in tagger.vocab.labels.items()},
        "precision": tagger.precision,
        "options": {"input_format": input_format, "output_format": output_format, "text_field": text_field,
                    "tokens_field": tokens_field, "split": split},
    }


def input_digest(path: Path) -> str:
    """Size and sha256 of a file's bytes; for a folder, glob or dataset, of its files' names, sizes and
    modification times (hashing every byte of a large collection would cost a pass over it)."""
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


def _by_lines(path: Path, fmt: str) -> bool:
    return fmt in LENIENT_FORMATS and input_files(path) is None


class _LinePrefix:
    """The sha256 of an input file's first lines, carried forward as the run goes (each line is read twice)."""

    def __init__(self, path: Path) -> None:
        self.handle, self.hash, self.lines = path.open("rb"), hashlib.sha256(), 0

    def through(self, line: int) -> str:
        while self.lines < line and (raw := self.handle.readline()):
            self.hash.update(raw)
            self.lines += 1
        return self.hash.hexdigest()

    def close(self) -> None:
        self.handle.close()


def _check_prefix(input_path: Path, state: dict[str, object], output: Path) -> None:
    """Refuse a resume whose input's lines, up to the last record the interrupted run did, changed."""
    lines = int(state.get("input_lines", 0))  # type: ignore[call-overload]
    if not lines or "input_sha256" not in state:
        return
    prefix = _LinePrefix(input_path)
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


def _annotate_to_lines(tagger: Tagger, input_path: Path, output: Path, errors_path: Path, identity: dict[str, object],
                       input_format: str, output_format: str, batch_size: int, text_field: str, tokens_field: str, resume: bool,
                       strict: bool, split: str, workers: int, model_dir: str | Path | None,
                       on_progress: Callable[[int, int], None] | None) -> AnnotateSummary:
    partial, progress_file = partial_files(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    summary = AnnotateSummary(errors_path=errors_path)
    state = {"records": 0, "output_bytes": 0, "errors_bytes": 0, "done": 0, "failed": 0, "identity": identity}
    errors_partial = errors_path.with_name(errors_path.name + ".partial")
    if resume and progress_file.is_file() and partial.is_file():
        state = json.loads(progress_file.read_text(encoding="utf-8"))
        changed = [f"{key}: {_short(old)} -> {_short(new)}" for key, old, new in changed_keys(state.get("identity", identity), identity)]
        if changed:
            raise TaggerError(f"cannot resume {output}: this run differs from the one that wrote {partial} "
                              f"({'; '.join(changed)}); rerun without --resume and with --overwrite to start again")
        if _by_lines(input_path, input_format):
            _check_prefix(input_path, state, output)
        summary.resumed = state["records"]
        if state["errors_bytes"] and not errors_partial.exists() and errors_path.is_file():
            os.replace(errors_path, errors_partial)  # stopped between the two final renames
    started = time.perf_counter()
    records = islice(read_records(input_path, input_format, text_field, tokens_field, split), state["records"], None)
    prefix = _LinePrefix(input_path) if _by_lines(input_path, input_format) else None
    with _open_at(partial, state["output_bytes"]) as out, _open_at(errors_partial, state["errors_bytes"]) as errors, \
            contextlib.closing(prefix) if prefix else contextlib.nullcontext():
        for chunk, labelled in label_chunks(tagger, _checked(records, input_path, strict), batch_size, workers, model_dir):
            predictions = iter(labelled)
            words = sum(len(prediction.tokens) for prediction in labelled)
            for item in chunk:
                if isinstance(item, RecordError):
                    errors.write(json.dumps({"line": item.line, "reason": item.reason}) + "\n")
                    state["failed"] += 1
                else:
                    state["done"] += 1
                    out.write(format_prediction(next(predictions), output_format, state["done"]))
            state["records"] += len(chunk)
            if prefix is not None:
                last = chunk[-1]
                state["input_lines"] = last.line if isinstance(last, RecordError) else last.meta["line"]
                state["input_sha256"] = prefix.through(state["input_lines"])
            state["output_bytes"], state["errors_bytes"] = _sync(out), _sync(errors)
            _write_json(progress_file, state)
            if on_progress:
                on_progress(len(chunk), words)
    summary.done, summary.failed = state["done"], state["failed"]
    summary.seconds = time.perf_counter() - started
    if state["failed"]:  # the errors file first: a finished OUTPUT means its errors are in place too
        os.replace(errors_partial, errors_path)
    else:
        errors_partial.unlink(missing_ok=True)
        summary.errors_path = None
    os.replace(partial, output)
    progress_file.unlink(missing_ok=True)
    return summary


def _annotate_to_docbin(tagger: Tagger, input_path: Path, output: Path, input_format: str, batch_size: int, text_field: str,
                        tokens_field: str, split: str, strict: bool, workers: int, model_dir: str | Path | None,
                        on_progress: Callable[[int, int], None] | None) -> AnnotateSummary:
    """The .spacy path: bad records are counted and, with ``strict``, stop the run; no errors file."""
    from tagger.writers import DocBinWriter

    writer, summary, started = DocBinWriter(tagger), AnnotateSummary(), time.perf_counter()
    records = _checked(read_records(input_path, input_format, text_field, tokens_field, split), input_path, strict)
    for chunk, predictions in label_chunks(tagger, records, batch_size, workers, model_dir):
        summary.failed += sum(isinstance(item, RecordError) for item in chunk)
        for prediction in predictions:
            writer.add(prediction)
            summary.done += 1
        if on_progress:
            on_progress(len(chunk), sum(len(prediction.tokens) for prediction in predictions))
    writer.save(output)
    summary.seconds = time.perf_counter() - started
    return summary


def _checked(records: Iterator[Sentence | RecordError], path: Path, strict: bool) -> Iterator[Sentence | RecordError]:
    for item in records:
        if strict and isinstance(item, RecordError):
            raise DataFormatError(path, item.line, f"{item.reason} (run without --strict to skip bad records)")
        yield item


def label_chunks(
    tagger: Tagger, records: Iterator[Sentence | RecordError], batch_size: int, workers: int = 1, model_dir: str | Path | None = None
) -> Iterator[tuple[list[Sentence | RecordError], list[Prediction]]]:
    """Chunks of ``batch_size * 16`` records with the Predictions of their Sentences, in input order.

    With ``workers`` > 1 the chunks are labelled in that many processes, each with its share of
    the CPU cores as torch threads; a few chunks per worker are in flight at a time, so memory
    stays bounded whatever the input size.
    """
    chunks = iter(lambda: list(islice(records, batch_size * 16)), [])
    if workers <= 1:
        for chunk in chunks:
            sentences = [item for item in chunk if isinstance(item, Sentence)]
            yield chunk, _label_all(tagger, sentences, batch_size)
        return
    if model_dir is None:
        raise TaggerError("workers > 1 need the model directory to load in each worker")
    threads = cores_per_process(workers)
    with ProcessPoolExecutor(workers, initializer=_start_worker,
                             initargs=(str(model_dir), threads, batch_size, tagger.precision, os.getpid())) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(_label_in_worker, [item for item in chunk if isinstance(item, Sentence)])))
            if len(pending) >= 2 * workers:
                done_chunk, future = pending.popleft()
                yield done_chunk, future.result()
        while pending:
            done_chunk, future = pending.popleft()
            yield done_chunk, future.result()


_worker: dict[str, object] = {}


def _start_worker(model_dir: str, threads: int, batch_size: int, precision: str = "fp32", parent: int = 0) -> None:
    import torch

    die_with_parent(parent)
    torch.set_num_threads(threads)  # before loading: an int8 encoder's ONNX Runtime session takes this many threads
    _worker.update(tagger=Tagger.load(model_dir, precision=precision), batch_size=batch_size)


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies, however it dies (Linux's
    ``PR_SET_PDEATHSIG``; a no-op elsewhere), and exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:
        os._exit(1)


def _label_in_worker(sentences: list[Sentence]) -> list[Prediction]:
    tagger, batch_size = _worker["tagger"], _worker["batch_size"]
    return _label_all(tagger, sentences, batch_size)  # type: ignore[arg-type]


def _label_all(tagger: Tagger, sentences: list[Sentence], batch_size: int) -> list[Prediction]:
    """One chunk, tokenized and labelled in one go (one window over the whole chunk)."""
    return list(tagger.predict_sentences(sentences, batch_size, window=len(sentences) // batch_size + 1))


class _open_at:
    """Open a file for writing from byte ``size`` on: 0 starts it anew, more cuts it back to that size."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size

    def __enter__(self):  # noqa: ANN204 - a text file object
        if self.size and self.path.is_file():
            with self.path.open("r+b") as handle:
                handle.truncate(self.size)
            self.handle = self.path.open("a", encoding="utf-8", newline="\n")
        else:
            if self.size:
                raise TaggerError(f"cannot resume: {self.path} is missing")
            self.handle = self.path.open("w", encoding="utf-8", newline="\n")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def _sync(handle) -> int:  # noqa: ANN001 - a text file object
    """Flush to disk; the file's size in bytes."""
    handle.flush()
    os.fsync(handle.fileno())
    return os.fstat(handle.fileno()).st_size


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)
