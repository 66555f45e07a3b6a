"""What ``tagger annotate`` reads: a file in any reader's format, a folder or glob of text files,
standard input (``-``: text, JSONL, CoNLL-U or columns, read once as it comes), or a ``datasets``
dataset, as a stream of unlabelled Sentences and BadRecords."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tagger.core.errors import DataFormatError, TaggerError
from tagger.core.types import BadRecord, Sentence
from tagger.data.readers import LENIENT_FORMATS, infer_format, read_records
from tagger.data.readers.lines import MAX_RECORD_CHARS
from tagger.data.readers.text import read_text_files
from tagger.files.paths import input_files, is_stdin

STDIN_FORMATS = ("text", "jsonl", "conllu", "conll", "iob2")  # read line by line, so from a stream too


def check_input(path: str | Path, fmt: str | None = None, resume: bool = False) -> None:
    """Raise a TaggerError naming ``path`` when there is nothing there to read, before any work: a path
    that does not exist, a folder with no file, a glob that matches none, something other than a file
    (a pipe: give ``-``); or standard input in a format that is not read line by line, or with
    ``resume`` (which reads the input again up to where the run stopped). An empty file is fine
    (nothing to label, an empty output). ``fmt`` None: the format found from the input."""
    if is_stdin(path):
        if resume:
            raise TaggerError("--resume reads the input again up to where the run stopped, and standard input (-) cannot be read "
                              "again: save it to a file and annotate that")
        if fmt is not None and fmt not in STDIN_FORMATS:
            raise TaggerError(f"standard input (-) is read as {', '.join(STDIN_FORMATS)}, not as {fmt!r}: save it to a file")
        return
    if fmt == "dataset":  # a hub name or a save_to_disk folder: the datasets library says what is wrong
        return
    files = input_files(path)
    if files == []:
        raise DataFormatError(path, None, "the folder holds no file to label (hidden files are left out)" if Path(path).is_dir()
                              else "no such file, and as a glob it matches no file")
    if files is None and not Path(path).is_file():
        raise DataFormatError(path, None, "not a file (to read a pipe, give - and feed it to standard input)" if Path(path).exists()
                              else "no such file or folder")


def infer_input_format(path: str | Path) -> str:
    """A saved ``datasets`` folder is "dataset", another folder or a glob is text files, standard input
    text, else by extension."""
    if is_stdin(path):
        return "text"
    if any((Path(path) / marker).is_file() for marker in ("dataset_info.json", "dataset_dict.json")):
        return "dataset"
    return "text" if input_files(path) is not None else infer_format(path)


def read_input(path: Path, fmt: str, text_field: str = "text", tokens_field: str = "tokens", split: str = "train") -> Iterator[Sentence | BadRecord]:
    """The input's records in order, without their labels: Sentences, or BadRecords.

    Text and JSONL files fail per line, and a folder or glob of text files (one document per
    file) per file; the other formats are read whole, so a malformed line there stops the run
    (a DataFormatError naming file and line), and keep their lines, so that CoNLL-U and column
    files are written back whole. ``fmt`` "dataset" reads a ``datasets`` dataset. ``path`` ``-`` reads
    standard input. Callers check first that there is something to read (:func:`check_input`).
    """
    files = input_files(path) if fmt != "dataset" else None
    if files is not None and fmt != "text":
        raise DataFormatError(path, None, f"a folder or glob is read as text files (one document each), not as {fmt!r}: "
                                          f"give one {fmt} file, or --format text")
    if files is not None:
        records: Iterator[Sentence | BadRecord] = read_text_files(files)
    elif fmt == "dataset":
        from tagger.data.readers.hf_datasets import read_dataset

        records = read_dataset(str(path), split, {}, tokens_field, None, text_field)  # type: ignore[assignment]
    else:
        records = read_records(path, fmt, keep_lines=True, text_field=text_field, tokens_field=tokens_field)
    for record in records:
        if isinstance(record, BadRecord):
            yield record
        elif max(len(record.text or ""), sum(map(len, record.tokens))) > MAX_RECORD_CHARS:
            yield BadRecord(record.meta.get("source", str(path)), record.meta.get("line"),
                            f"more than {MAX_RECORD_CHARS:,} characters to label: split the document")
        else:
            yield record.unlabelled()


def by_lines(path: Path, fmt: str) -> bool:
    """Whether the input is one file read line by line (each line one record, or a bad one), which can
    be read again (so not standard input)."""
    return fmt in LENIENT_FORMATS and not is_stdin(path) and input_files(path) is None


def count_records(path: str | Path, fmt: str) -> int | None:
    """How many records ``read_input`` will give, when a quick pass can tell (for a progress bar's ETA).

    Text and JSONL count their non-blank lines (a bad line is a record too) and a folder or glob
    its files; other inputs, standard input among them (read once), give None.
    """
    files = input_files(path) if fmt != "dataset" else None
    if files is not None:
        return len(files)
    if not by_lines(Path(path), fmt) or not Path(path).is_file():
        return None
    with Path(path).open("rb") as handle:  # roughly: a line of only exotic spaces is counted, then skipped
        return sum(1 for raw in handle if raw.strip())
