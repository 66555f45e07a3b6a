"""Where ``tagger annotate``'s loop puts each prediction and each bad record: standard output, a
resumable text file (JSONL, CoNLL-U, columns, HTML) with its errors file, or a spaCy DocBin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Protocol

from tagger.annotate.resumable import ResumableOutput
from tagger.core.errors import DataFormatError, writing
from tagger.core.types import BadRecord, Prediction, Sentence
from tagger.data.writers import DocBinWriter, Formatter


class Sink(Protocol):
    resumed: int  # records an earlier run wrote (skipped in the input)
    done: int
    failed: int

    def write(self, prediction: Prediction) -> None: ...
    def reject(self, bad: BadRecord) -> None: ...
    def checkpoint(self, chunk: list[Sentence | BadRecord]) -> None: ...
    def finish(self) -> Path | None: ...  # where the bad records went, if anywhere
    def close(self) -> None: ...


class StreamSink:
    """Text formats to a stream (standard output): no errors file, so the first bad record stops the run."""

    resumed = 0

    def __init__(self, formatter: Formatter, stream: IO[str] | None = None) -> None:
        self.formatter, self.stream, self.done, self.failed = formatter, stream or sys.stdout, 0, 0

    def write(self, prediction: Prediction) -> None:
        self.done += 1
        self.stream.write(self.formatter(prediction, self.done))

    def reject(self, bad: BadRecord) -> None:
        raise DataFormatError(bad.source, bad.line, bad.reason)

    def checkpoint(self, chunk: list[Sentence | BadRecord]) -> None:
        self.stream.flush()

    def finish(self) -> Path | None:
        return None

    def close(self) -> None: ...


class FileSink:
    """Text formats to a file that survives a stop (:class:`tagger.annotate.resumable.ResumableOutput`);
    bad records go to its errors file as JSON lines with their line number and reason."""

    def __init__(self, formatter: Formatter, output: ResumableOutput) -> None:
        self.formatter, self.output, self.resumed = formatter, output, output.resumed

    @property
    def done(self) -> int:
        return self.output.state["done"]

    @property
    def failed(self) -> int:
        return self.output.state["failed"]

    def write(self, prediction: Prediction) -> None:
        self.output.write(self.formatter(prediction, self.done + 1))

    def reject(self, bad: BadRecord) -> None:
        self.output.reject(bad)

    def checkpoint(self, chunk: list[Sentence | BadRecord]) -> None:
        self.output.checkpoint(chunk)

    def finish(self) -> Path | None:
        return self.output.finish()

    def close(self) -> None:
        self.output.close()


class DocBinSink:
    """A ``.spacy`` file, written whole at the end (a DocBin is serialized whole): bad records are
    counted, not listed, and it cannot resume."""

    resumed = 0

    def __init__(self, writer: DocBinWriter, path: Path) -> None:
        self.writer, self.path, self.done, self.failed = writer, path, 0, 0

    def write(self, prediction: Prediction) -> None:
        self.writer.add(prediction)
        self.done += 1

    def reject(self, bad: BadRecord) -> None:
        self.failed += 1

    def checkpoint(self, chunk: list[Sentence | BadRecord]) -> None: ...

    def finish(self) -> Path | None:
        with writing(self.path, "Nothing was written (a .spacy file is written whole): free some space and run again."):
            self.writer.save(self.path)
        return None

    def close(self) -> None: ...
