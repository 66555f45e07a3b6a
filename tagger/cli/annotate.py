"""``tagger annotate``: label files, folders or datasets, streaming, with a progress bar and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from tagger.cli.common import PrecisionOption, ThreadsOption, app, console, fail
from tagger.errors import TaggerError


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


@app.command()
def annotate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Text (one document per line), JSONL, CoNLL-U, column or .spacy file; a folder or glob of text files (one document each); a dataset with --format dataset. With --engine ray: a shard file, or a folder or glob of shards.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (with --engine ray a folder of output shards); default standard output.")] = None,
    input_format: Annotated[Optional[str], typer.Option("--format", help="Input format; default from the extension.")] = None,
    output_format: Annotated[Optional[str], typer.Option("--output-format", help="jsonl, conllu, conll, html (a page to look at: entities highlighted by displaCy, tags below the tokens) or spacy; default from OUTPUT's extension, else jsonl.")] = None,
    tasks: Annotated[Optional[list[str]], typer.Option("--tasks", help="Write only these tasks' labels: --tasks ner, or --tasks upos,ner; default all the model's.")] = None,
    scores: Annotated[bool, typer.Option("--scores", help="Also write each token's probability of its label, per task (JSONL: a scores field).")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    text_field: Annotated[str, typer.Option(help="JSONL field with raw text.")] = "text",
    tokens_field: Annotated[str, typer.Option(help="JSONL field with a token list (used when present).")] = "tokens",
    errors: Annotated[Optional[Path], typer.Option(help="Where bad records go; default OUTPUT's name with .errors.jsonl.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from OUTPUT.partial.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists (never the input).")] = False,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad record instead of listing it in the errors file.")] = False,
    split: Annotated[str, typer.Option(help="Split of a datasets dataset (--format dataset).")] = "train",
    workers: Annotated[Optional[int], typer.Option(min=1, help="Processes labelling in parallel, each with its share of the CPU cores; output stays in input order. Default 1; with --engine ray, Ray actors (default: as many as the cluster's CPUs).")] = None,
    engine: Annotated[str, typer.Option(help="local, or ray: shards labelled by a pool of Ray actors (pip install 'birnn-tagger[ray]').")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join (e.g. auto); default a local Ray instance.")] = None,
    threads: ThreadsOption = 0,
    precision: PrecisionOption = "fp32",
) -> None:
    """Label a file, a folder or glob of text files, or a dataset, streaming; write JSONL, CoNLL-U, columns, HTML or .spacy."""
    from tagger.annotate import AnnotateOptions, annotate_file, annotate_stream
    from tagger.annotate.inputs import count_records
    from tagger.annotate.resumable import resumed_records
    from tagger.predict import Tagger
    from tagger.runtime import set_threads

    options = AnnotateOptions(input_format=input_format, output_format=output_format, batch_size=batch_size, text_field=text_field,
                              tokens_field=tokens_field, errors_path=errors, resume=resume, overwrite=overwrite, strict=strict,
                              split=split, workers=workers or 1,
                              tasks=tuple(name.strip() for item in tasks for name in item.split(",") if name.strip()) if tasks is not None else None,
                              scores=scores)
    if engine not in ("local", "ray"):
        fail(TaggerError(f"--engine: unknown engine {engine!r}; choose local or ray"))
    if engine == "ray":
        _annotate_with_ray(model, input_path, output, options, workers, ray_address, precision)
        return
    progress = _annotate_progress()
    set_threads(threads)
    try:
        source_format, _ = options.formats(input_path, output)  # an unknown format fails before the model loads
        tagger = Tagger.load(model, precision=precision)
        total = count_records(input_path, source_format)
        if total is not None and output is not None and resume:
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
        return
    table = Table(title=f"annotated {input_path} -> {output}")
    for column in ("done", "failed", "resumed", "seconds", "records/s"):
        table.add_column(column, justify="right")
    rate = summary.done / summary.seconds if summary.seconds else 0.0
    table.add_row(f"{summary.done:,}", f"{summary.failed:,}", f"{summary.resumed:,}", f"{summary.seconds:.1f}", f"{rate:,.0f}")
    console.print(table)
    if summary.errors_path:
        console.print(f"{summary.failed} bad records listed in {summary.errors_path}")


def _annotate_with_ray(model: Path, input_path: Path, output: Optional[Path], options: Any, actors: Optional[int],
                       address: Optional[str], precision: str) -> None:
    """``annotate --engine ray``: a table with a row per shard; exit status 1 if any shard stopped."""
    from tagger.annotate.ray import annotate_with_ray

    if output is None:
        fail(TaggerError("--engine ray writes a folder of output shards: give -o OUTPUT_DIR"))
    try:
        results = annotate_with_ray(model, input_path, output, options, actors=actors, address=address, precision=precision)  # type: ignore[arg-type]
    except TaggerError as error:
        fail(error)
        return
    table = Table(title=f"annotated {input_path} -> {output} on Ray")
    for column in ("shard", "status", "done", "failed", "resumed", "seconds"):
        table.add_column(column, justify="right" if column not in ("shard", "status") else "left")
    for r in results:
        table.add_row(Path(r.input).name, r.status, f"{r.done:,}", f"{r.failed:,}", f"{r.resumed:,}", f"{r.seconds:.1f}")
    table.add_row("all", "", f"{sum(r.done for r in results):,}", f"{sum(r.failed for r in results):,}",
                  f"{sum(r.resumed for r in results):,}", "", style="bold")
    console.print(table)
    stopped = [r for r in results if r.status == "stopped"]
    for r in stopped:
        console.print(f"[bold red]stopped:[/] {escape(r.error)}", highlight=False)
    if stopped:
        console.print(f"{len(stopped)} shard(s) stopped; fix them and rerun with --resume (finished shards are skipped)")
        raise typer.Exit(code=1)
