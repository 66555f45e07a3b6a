"""``tagger annotate``: label files, folders or datasets, streaming, with a progress bar and a summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from tagger.annotate.options import AnnotateOptions
from tagger.cli.common import app, console, fail
from tagger.cli.options import declared, picked, run_options
from tagger.core.errors import TaggerError
from tagger.core.runtime import RunOptions
from tagger.files.paths import is_stdin


class RateColumn(ProgressColumn):
    """Documents and words per second so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if not elapsed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f} docs/s  {task.fields.get('words', 0) / elapsed:,.0f} words/s")


def _annotate_progress() -> Progress:
    return Progress(TextColumn("annotating"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True)


ANNOTATE_FLAGS = ("input_format", "output_format", "scores", "text_field", "tokens_field", "errors_path", "resume", "overwrite",
                  "strict", "split", "workers")  # the AnnotateOptions fields declared as they are; tasks and label_map need words


@app.command()
@declared((AnnotateOptions, ANNOTATE_FLAGS), RunOptions, defaults={"workers": None})  # None: 1, or with Ray as many as its CPUs
def annotate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Text (one document per line), JSONL, CoNLL-U, column or .spacy file; a folder or glob of text files (one document each); - for standard input (text, or as --format says); a dataset with --format dataset. With --engine ray: a shard file, or a folder or glob of shards.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (with --engine ray a folder of output shards); default standard output.")] = None,
    tasks: Annotated[Optional[list[str]], typer.Option("--tasks", help="Write only these tasks' labels: --tasks ner, or --tasks upos,ner; default all the model's.")] = None,
    label_map: Annotated[Optional[str], typer.Option("--label-map", help="Rename entity types in the html and spacy outputs, e.g. PER=PERSON,LOC=GPE (spaCy's scheme; displaCy colours those names).")] = None,
    engine: Annotated[str, typer.Option(help="local, or ray: shards labelled by a pool of Ray actors (pip install 'birnn-tagger[ray]').")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join (e.g. auto); default a local Ray instance.")] = None,
    **flags: Any,
) -> None:
    """Label a file, a folder or glob of text files, or a dataset, streaming; write JSONL, CoNLL-U, columns, HTML or .spacy."""
    from tagger.annotate import annotate_file, annotate_stream
    from tagger.annotate.inputs import check_input, count_records
    from tagger.annotate.resumable import resumed_records
    from tagger.data.doc_targets import parse_label_map
    from tagger.model.predict import Tagger

    try:
        options = AnnotateOptions(**{**picked(AnnotateOptions, flags), "workers": flags["workers"] or 1},
                                  tasks=tuple(name.strip() for item in tasks for name in item.split(",") if name.strip()) if tasks is not None else None,
                                  label_map=parse_label_map(label_map) if label_map is not None else None)
    except TaggerError as error:
        fail(error)
    if engine not in ("local", "ray"):
        fail(TaggerError(f"--engine: unknown engine {engine!r}; choose local or ray"))
    if engine == "ray":
        if is_stdin(input_path):
            fail(TaggerError("--engine ray reads shard files, not standard input (-): save the input to files first"))
        _annotate_with_ray(model, input_path, output, options, flags["workers"], ray_address, flags)
        return
    progress = _annotate_progress()
    try:
        run = run_options(flags)
        check_input(input_path, options.input_format, options.resume)  # nothing to read: refused before the model loads
        if is_stdin(input_path) and sys.stdin.isatty():
            console.print("reading standard input (-) until it ends: Ctrl-D at a terminal", highlight=False)
        source_format, _ = options.formats(input_path, output)
        tagger = Tagger.load(model, run)
        total = count_records(input_path, source_format)
        if total is not None and output is not None and options.resume:
            total -= resumed_records(output)
        with progress:
            task = progress.add_task("annotate", total=total, words=0)
            words_done = [0]

            def advance(records: int, words: int) -> None:
                words_done[0] += words
                progress.update(task, advance=records, words=words_done[0])

            if output is None:  # standard output: streaming, no errors file, no resume
                annotate_stream(tagger, input_path, options, on_progress=advance)
                return
            summary = annotate_file(tagger, input_path, output, options, model_dir=model, on_progress=advance)
    except TaggerError as error:
        fail(error)
    table = Table(title=f"annotated {_input_name(input_path)} -> {escape(str(output))}")
    for column in ("done", "failed", "resumed", "seconds", "records/s"):
        table.add_column(column, justify="right")
    rate = summary.done / summary.seconds if summary.seconds else 0.0
    table.add_row(f"{summary.done:,}", f"{summary.failed:,}", f"{summary.resumed:,}", f"{summary.seconds:.1f}", f"{rate:,.0f}")
    console.print(table)
    if summary.errors_path:
        console.print(f"{summary.failed} bad records listed in {escape(str(summary.errors_path))}", highlight=False)
    if not (summary.done or summary.failed or summary.resumed):
        console.print(f"[yellow]note[/]: {_input_name(input_path)} holds nothing to label: {escape(str(output))} is empty", highlight=False)


def _input_name(input_path: Path) -> str:
    """The input as a title shows it (rich markup escaped: a file named [draft]notes.txt keeps its name)."""
    return "standard input" if is_stdin(input_path) else escape(str(input_path))


def _annotate_with_ray(model: Path, input_path: Path, output: Optional[Path], options: Any, actors: Optional[int],
                       address: Optional[str], run_flags: dict[str, Any]) -> None:
    """``annotate --engine ray``: a table with a row per shard; exit status 1 if any shard stopped."""
    from tagger.annotate.ray import annotate_with_ray

    if output is None:
        fail(TaggerError("--engine ray writes a folder of output shards: give -o OUTPUT_DIR"))
    try:
        results = annotate_with_ray(model, input_path, output, options, actors=actors, address=address, run=run_options(run_flags))  # type: ignore[arg-type]
    except TaggerError as error:
        fail(error)
    table = Table(title=f"annotated {_input_name(input_path)} -> {escape(str(output))} on Ray")
    for column in ("shard", "status", "done", "failed", "resumed", "seconds"):
        table.add_column(column, justify="right" if column not in ("shard", "status") else "left")
    for r in results:
        table.add_row(escape(Path(r.input).name), r.status, f"{r.done:,}", f"{r.failed:,}", f"{r.resumed:,}", f"{r.seconds:.1f}")
    table.add_row("all", "", f"{sum(r.done for r in results):,}", f"{sum(r.failed for r in results):,}",
                  f"{sum(r.resumed for r in results):,}", "", style="bold")
    console.print(table)
    stopped = [r for r in results if r.status == "stopped"]
    for r in stopped:
        console.print(f"[bold red]stopped:[/] {escape(r.error)}", highlight=False)
    if stopped:
        console.print(f"{len(stopped)} shard(s) stopped; fix them and rerun with --resume (finished shards are skipped)")
        raise typer.Exit(code=1)
