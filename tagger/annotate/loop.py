"""The one annotation loop: records in (lenient readers), labelled in chunks, predictions and bad records out to a sink."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import IO

from tagger.annotate.inputs import infer_input_format, read_input
from tagger.annotate.resumable import ResumableOutput, check_resumable, partial_files, run_identity
from tagger.annotate.sinks import DocBinSink, FileSink, Sink, StreamSink
from tagger.annotate.workers import label_chunks
from tagger.data.readers import EXTENSIONS
from tagger.data.writers import WRITE_FORMATS, DocBinWriter, formatter
from tagger.errors import DataFormatError, TaggerError
from tagger.outputs import Output, claim
from tagger.predict import Tagger
from tagger.types import BadRecord, Sentence

OUTPUT_EXTENSIONS = {**EXTENSIONS, ".html": "html", ".htm": "html"}  # an output's format from its name
Progress = Callable[[int, int], None]  # (records, words) of each chunk done


@dataclass(frozen=True)
class AnnotateOptions:
    """How to read the input and write the output (the options of ``tagger annotate``)."""

    input_format: str | None = None  # None: a dataset folder, a folder or glob of text files, else by extension
    output_format: str | None = None  # None: by the output's extension, else jsonl
    batch_size: int = 256
    text_field: str = "text"  # JSONL field with raw text
    tokens_field: str = "tokens"  # JSONL field with a token list (used when present)
    errors_path: str | Path | None = None  # where bad records go; None: OUTPUT's name + .errors.jsonl
    resume: bool = False  # continue an interrupted run from OUTPUT.partial
    overwrite: bool = False  # replace an existing OUTPUT (never the input)
    strict: bool = False  # stop at the first bad record instead of listing it
    split: str = "train"  # of a datasets dataset
    workers: int = 1  # processes labelling in parallel (each given the loaded model)
    tasks: tuple[str, ...] | None = None  # the tasks to write (None: all the model's)
    scores: bool = False  # also write each token's probability of its label, per task

    def check_output_format(self, output_format: str) -> None:
        if output_format not in WRITE_FORMATS:
            raise TaggerError(f"cannot write {output_format!r}; choose one of {', '.join(WRITE_FORMATS)}")
        if self.scores and output_format in ("conllu", "conll"):
            raise TaggerError(f"--scores: {output_format} output has no place for scores; write jsonl, html or spacy")

    def check_tasks(self, known: list[str]) -> None:
        unknown = [task for task in self.tasks or () if task not in known]
        if unknown or self.tasks == ():
            raise TaggerError(f"--tasks: unknown task {', '.join(map(repr, unknown)) or '(none given)'}; this model's tasks: {', '.join(known)}")

    def formats(self, input_path: str | Path, output: str | Path | None) -> tuple[str, str]:
        """The input and output formats: as given, else found from the input and the output's name."""
        output_format = self.output_format or (OUTPUT_EXTENSIONS.get(Path(output).suffix.lower()) if output else None) or "jsonl"
        self.check_output_format(output_format)
        return self.input_format or infer_input_format(input_path), output_format


@dataclass
class AnnotateSummary:
    done: int = 0  # records labelled and written
    failed: int = 0  # bad records, listed in the errors file
    resumed: int = 0  # records a previous run had done
    seconds: float = 0.0
    errors_path: Path | None = None  # where the bad records are listed (None: there were none, or no errors file)


def annotate_file(tagger: Tagger, input_path: str | Path, output: str | Path, options: AnnotateOptions = AnnotateOptions(), *,
                  model_dir: str | Path | None = None, on_progress: Progress | None = None) -> AnnotateSummary:
    """Label ``input_path`` into the file ``output``.

    Text outputs survive a stop and resume (:mod:`tagger.annotate.resumable`); bad records go to
    the errors file (default ``OUTPUT.errors.jsonl``) as JSON lines with their line
    number and reason, and the run goes on; with ``strict`` the first one stops it (the partial
    output stays, for ``resume`` once the input is fixed). A ``.spacy`` output is written whole at
    the end. Both files are outputs (:mod:`tagger.outputs`): never the input, the model or each other,
    replaced only with ``overwrite``, and locked for the run, so a second run into either is refused
    at once. ``workers`` > 1 labels chunks in that many processes (each loading ``model_dir``),
    written in input order. ``on_progress(records, words)`` is called after each chunk.
    """
    input_path, output = Path(input_path), Path(output)
    input_format, output_format = options.formats(input_path, output)
    options.check_tasks(tagger.tasks)
    if output_format == "spacy" and options.resume:
        raise TaggerError("a .spacy output is written whole at the end; it cannot resume (write JSONL to resume)")
    errors_path = Path(options.errors_path) if options.errors_path else default_errors_path(output, options.resume)
    continuing = options.resume and partial_files(output)[0].is_file()  # an existing output or errors file is an interrupted run's
    outputs = [Output(output, "--output", may_exist=options.resume, companions=partial_files(output))]
    if output_format != "spacy":  # a DocBin's bad records are counted, not listed
        outputs.append(Output(errors_path, "--errors", may_exist=continuing, companions=(errors_path.with_name(errors_path.name + ".partial"),)))
    with claim(outputs, [input_path, *([model_dir] if model_dir else [])], options.overwrite):
        check_resumable(output, options.resume, options.overwrite)
        sink: Sink
        if output_format == "spacy":
            sink = DocBinSink(DocBinWriter(tagger, options.tasks, options.scores), output)
        else:
            identity = run_identity(tagger, input_path, input_format, output_format, options)
            sink = FileSink(formatter(output_format, tagger), ResumableOutput(input_path, input_format, output, errors_path, identity, options.resume))
        return _run(tagger, input_path, input_format, sink, options, on_progress)


def default_errors_path(output: Path, resume: bool) -> Path:
    """``OUTPUT.errors.jsonl``; for a resume of a run begun by an earlier version, the name it began with
    (``OUTPUT``'s stem + ``.errors.jsonl``), whose partial file holds its bad records so far."""
    earlier = output.with_name(output.stem + ".errors.jsonl")
    if resume and partial_files(output)[1].is_file() and earlier.with_name(earlier.name + ".partial").is_file():
        return earlier
    return output.with_name(output.name + ".errors.jsonl")


def annotate_stream(tagger: Tagger, input_path: str | Path, options: AnnotateOptions = AnnotateOptions(), stream: IO[str] | None = None, *,
                    on_progress: Progress | None = None) -> AnnotateSummary:
    """Label ``input_path`` onto ``stream`` (standard output by default) as it goes: no errors file and
    no resume, so the first bad record stops the run, ``strict`` or not."""
    input_path = Path(input_path)
    input_format, output_format = options.formats(input_path, None)
    options.check_tasks(tagger.tasks)
    if output_format == "spacy":
        raise TaggerError("a .spacy output needs a file: give -o OUTPUT.spacy")
    options = replace(options, strict=False)  # the sink stops at a bad record itself, naming it
    return _run(tagger, input_path, input_format, StreamSink(formatter(output_format, tagger), stream), options, on_progress)


def _run(tagger: Tagger, input_path: Path, input_format: str, sink: Sink, options: AnnotateOptions, on_progress: Progress | None
         ) -> AnnotateSummary:
    started = time.perf_counter()
    records = islice(read_input(input_path, input_format, options.text_field, options.tokens_field, options.split), sink.resumed, None)
    try:
        for chunk, predictions in label_chunks(tagger, _checked(records, options.strict), options.batch_size, options.workers, options.scores):
            labelled = iter(predictions)
            for item in chunk:
                if isinstance(item, BadRecord):
                    sink.reject(item)
                else:
                    sink.write(next(labelled).select(options.tasks))
            sink.checkpoint(chunk)
            if on_progress:
                on_progress(len(chunk), sum(len(prediction.tokens) for prediction in predictions))
        errors_path = sink.finish()
    finally:
        sink.close()
    return AnnotateSummary(sink.done, sink.failed, sink.resumed, time.perf_counter() - started, errors_path)


def _checked(records: Iterator[Sentence | BadRecord], strict: bool) -> Iterator[Sentence | BadRecord]:
    for item in records:
        if strict and isinstance(item, BadRecord):
            raise DataFormatError(item.source, item.line, f"{item.reason} (run without --strict to skip bad records)")
        yield item
