"""The one annotation loop: records in (lenient readers), labelled in chunks, predictions and bad records out to a sink."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import IO

from tagger.annotate.inputs import check_input, read_input
from tagger.annotate.options import AnnotateOptions
from tagger.annotate.resumable import ResumableOutput, check_resumable, partial_files, run_identity
from tagger.annotate.sinks import DocBinSink, FileSink, Sink, StreamSink
from tagger.annotate.workers import label_chunks
from tagger.core.errors import DataFormatError, TaggerError
from tagger.core.types import BadRecord, Sentence
from tagger.data.writers import DocBinWriter, formatter
from tagger.files.outputs import Output, claim
from tagger.model.predict import Tagger

Progress = Callable[[int, int], None]  # (records, words) of each chunk done


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
    the end. Both files are outputs (:mod:`tagger.files.outputs`): never the input, the model or each other,
    replaced only with ``overwrite``, and locked for the run, so a second run into either is refused
    at once. ``workers`` > 1 labels chunks in that many processes (each loading ``model_dir``),
    written in input order. ``on_progress(records, words)`` is called after each chunk.
    """
    input_path, output = Path(input_path), Path(output)
    check_input(input_path, options.input_format, options.resume)  # "no such file" before "cannot tell the format"
    input_format, output_format = options.formats(input_path, output)
    options.check_model(tagger.info)
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
            sink = DocBinSink(DocBinWriter(tagger.info, options.tasks, options.scores, options.label_map), output)
        else:
            identity = run_identity(tagger, input_path, input_format, output_format, options)
            sink = FileSink(formatter(output_format, tagger.info, options.label_map), ResumableOutput(input_path, input_format, output, errors_path, identity, options.resume))
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
    check_input(input_path, options.input_format)
    input_format, output_format = options.formats(input_path, None)
    options.check_model(tagger.info)
    if output_format == "spacy":
        raise TaggerError("a .spacy output needs a file: give -o OUTPUT.spacy")
    options = replace(options, strict=False)  # the sink stops at a bad record itself, naming it
    return _run(tagger, input_path, input_format, StreamSink(formatter(output_format, tagger.info, options.label_map), stream), options, on_progress)


def _run(tagger: Tagger, input_path: Path, input_format: str, sink: Sink, options: AnnotateOptions, on_progress: Progress | None
         ) -> AnnotateSummary:
    started = time.perf_counter()
    records = islice(read_input(input_path, input_format, options.text_field, options.tokens_field, options.split), sink.resumed, None)
    try:
        for chunk, predictions in label_chunks(tagger, _checked(records, options.strict), options.workers, options.scores):
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
