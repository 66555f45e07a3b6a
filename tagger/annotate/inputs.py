"""What ``tagger annotate`` reads: a file in any reader's format, a folder or glob of text files, or
a ``datasets`` dataset, as a stream of unlabelled Sentences and BadRecords."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from tagger.data.readers import LENIENT_FORMATS, infer_format, read_records
from tagger.data.readers.lines import MAX_RECORD_CHARS
from tagger.data.readers.text import read_text_files
from tagger.errors import DataFormatError
from tagger.types import BadRecord, Sentence


def input_files(pattern: str | Path) -> list[Path] | None:
    """The files of a directory or a glob pattern, sorted (one document each); None for a single file."""
    pattern = str(pattern)
    if Path(pattern).is_dir():
        return sorted(p for p in Path(pattern).rglob("*") if p.is_file() and not p.name.startswith("."))
    if is_glob(pattern):
        return sorted(p for p in map(Path, glob.glob(pattern, recursive=True)) if p.is_file())
    return None


def is_glob(pattern: str | Path) -> bool:
    """Whether ``pattern`` has glob characters (and names files by matching, not a file)."""
    return any(c in str(pattern) for c in "*?[")


def infer_input_format(path: str | Path) -> str:
    """A saved ``datasets`` folder is "dataset", another folder or a glob is text files, else by extension."""
    if any((Path(path) / marker).is_file() for marker in ("dataset_info.json", "dataset_dict.json")):
        return "dataset"
    return "text" if input_files(path) is not None else infer_format(path)


def read_input(path: Path, fmt: str, text_field: str = "text", tokens_field: str = "tokens", split: str = "train") -> Iterator[Sentence | BadRecord]:
    """The input's records in order, without their labels: Sentences, or BadRecords.

    Text and JSONL files fail per line, and a folder or glob of text files (one document per
    file) per file; the other formats are read whole, so a malformed line there stops the run
    (a DataFormatError naming file and line), and keep their lines, so that CoNLL-U and column
    files are written back whole. ``fmt`` "dataset" reads a ``datasets`` dataset.
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
    """Whether the input is one file read line by line (each line one record, or a bad one)."""
    return fmt in LENIENT_FORMATS and input_files(path) is None


def count_records(path: str | Path, fmt: str) -> int | None:
    """How many records ``read_input`` will give, when a quick pass can tell (for a progress bar's ETA).

    Text and JSONL count their non-blank lines (a bad line is a record too) and a folder or glob
    its files; other inputs give None.
    """
    files = input_files(path) if fmt != "dataset" else None
    if files is not None:
        return len(files)
    if not by_lines(Path(path), fmt) or not Path(path).is_file():
        return None
    with Path(path).open("rb") as handle:  # roughly: a line of only exotic spaces is counted, then skipped
        return sum(1 for raw in handle if raw.strip())
