"""``tagger benchmark``: words/s, latency and memory of a model over a sweep of precisions, threads and batch sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tagger.cli.common import app, console, fail, out, print_json
from tagger.cli.options import declared, run_options
from tagger.core.errors import TaggerError, writing
from tagger.core.runtime import RunOptions
from tagger.files.outputs import Output, claim

if TYPE_CHECKING:
    from tagger.analysis.benchmark import Corpus, Row, SweepOptions


@app.command()
@declared((RunOptions, ("device",)))
def benchmark(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    corpus: Annotated[Optional[str], typer.Argument(help="A labelled or text file, or a catalogue corpus such as ud-en-ewt:test; default the model's test corpus (data.test of its config).")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="conllu, conll, iob2, jsonl, text or spacy; default from the extension.")] = None,
    batch_sizes: Annotated[str, typer.Option(help="Sentences per label_sentences call, comma-separated.")] = "1,32,256",
    precisions: Annotated[str, typer.Option(help="fp32, int8, int8-all, comma-separated; int8 rows need onnxruntime and an LSTM model (skipped otherwise).")] = "fp32,int8,int8-all",
    threads: Annotated[Optional[str], typer.Option(help="Torch and ONNX Runtime threads, comma-separated; default 1 and every core this process may use.")] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed passes over the corpus per row.")] = 1,
    passes: Annotated[int, typer.Option(min=1, help="Timed passes over the corpus per row.")] = 5,
    limit: Annotated[int, typer.Option(min=0, help="Only the first N sentences (0: all).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (machine, options, rows) instead of the table.")] = False,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also write that JSON object to this file.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    **run_flags: Any,
) -> None:
    """Time a model over a sweep (like spacy benchmark speed, several settings in one run): words/s with a 95% interval, ms per batch, peak memory, int8 agreement with fp32."""
    from tagger.analysis.benchmark import SweepOptionError, SweepOptions, default_threads, load_corpus, machine, run_sweep
    from tagger.model.predict import Tagger

    try:
        options = SweepOptions(_ints("batch_sizes", batch_sizes), tuple(_parts(precisions)),
                               _ints("threads", threads) if threads is not None else default_threads(), warmup, passes)
    except SweepOptionError as error:
        fail(TaggerError(f"--{error.option.replace('_', '-')}: {error.reason}"))
    try:
        with claim([Output(output, "--output")] if output else [], [*([corpus] if corpus else []), model], overwrite):  # before minutes of timing
            tagger = Tagger.load(model, run_options(run_flags))  # the sweep sets the precision, threads and batch size of each row
            timed = load_corpus(tagger, corpus, fmt, limit)
            measured_on = machine()
            with _sweep_progress() as progress:
                task = progress.add_task("", total=options.steps, what="")

                def advance(what: str, steps: int) -> None:
                    progress.update(task, advance=steps, what=what)
                    progress.refresh()

                rows = run_sweep(tagger, timed, options, advance)
            report = _report(model, timed, options, measured_on.to_dict(), rows)
            if as_json:
                print_json(report)
            else:
                _print_wide(_table(model, timed, options, rows))
                for precision, reason in _skipped_reasons(rows).items():
                    out.print(f"[yellow]{precision} skipped[/]: {escape(reason)}", highlight=False)
            if output is not None:
                from tagger.files.atomic import write_atomic

                with writing(output, "The results were printed above; nothing else was changed."):
                    write_atomic(output, json.dumps(report, indent=2) + "\n")
                if not as_json:
                    console.print(f"JSON written to {escape(str(output))}", highlight=False)
    except TaggerError as error:
        fail(error)


def _print_wide(table: Table, width: int = 120) -> None:
    """``table`` on standard output: as wide as the terminal, and at least ``width`` in a file or pipe
    (which has no width; rich's 80 columns would cut the numbers to "…")."""
    if out.is_terminal:
        out.print(table)
    else:
        Console(file=out.file, width=max(out.width, width)).print(table)


def _ints(option: str, text: str) -> tuple[int, ...]:
    """``1,32,256`` -> (1, 32, 256); SweepOptionError naming ``option`` (a SweepOptions field) for anything else."""
    from tagger.analysis.benchmark import SweepOptionError

    try:
        return tuple(int(part) for part in _parts(text))
    except ValueError:
        raise SweepOptionError(option, f"{text!r} is not a comma-separated list of whole numbers, such as 1,32,256") from None


def _parts(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _sweep_progress() -> Progress:
    # No auto-refresh: a refreshing thread would take CPU time from what is being timed.
    return Progress(TextColumn("benchmark"), BarColumn(), MofNCompleteColumn(), TextColumn("passes  {task.fields[what]}"),
                    TimeElapsedColumn(), console=console, transient=True, auto_refresh=False)


def _report(model: Path, corpus: Corpus, options: SweepOptions, measured_on: dict[str, Any], rows: list[Row]) -> dict[str, Any]:
    import dataclasses

    return {"machine": measured_on, "model": str(model), "corpus": {"name": corpus.name, "sentences": len(corpus.sentences), "words": corpus.words},
            "options": dataclasses.asdict(options), "rows": [row.to_dict() for row in rows]}


def _skipped_reasons(rows: list[Row]) -> dict[str, str]:
    """precision -> why its rows were skipped (the same reason for every batch size and thread count)."""
    return {row.precision: row.skipped for row in rows if row.skipped is not None}


def _table(model: Path, corpus: Corpus, options: SweepOptions, rows: list[Row]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, caption_justify="left", title=f"{model} on {corpus.name}: {len(corpus.sentences):,} sentences, {corpus.words:,} words",
                  caption=f"Wall clock over {options.passes} timed pass(es) per row after {options.warmup} warm-up; sentences fed pre-tokenized "
                          "(tokenization not timed) to Tagger.label_sentences, batch sentences per call (forward passes of at most 2048 "
                          "padded tokens). 95% CI: Student t over the passes. Peak RSS: high-water mark during the row (* the process's "
                          "peak so far). Agreement: share of tokens with every task's label as fp32's.")
    for column in ("precision", "threads", "batch", "words/s", "± 95% CI", "sentences/s", "ms/batch p50 / p95", "peak RSS MiB", "agreement"):
        table.add_column(column, justify="left" if column == "precision" else "right")
    shown: set[str] = set()
    for row in rows:
        if row.skipped is not None:
            if row.precision not in shown:  # one line for all its batch sizes and thread counts; the reason below the table
                shown.add(row.precision)
                table.add_row(row.precision, "all", "all", "[yellow]skipped[/]", *["-"] * 5)
            continue
        ci = f"± {(row.words_per_s_ci95.high - row.words_per_s_ci95.low) / 2:,.0f}" if row.words_per_s_ci95 else "-"
        peak = "-" if row.peak_rss_mib is None else f"{row.peak_rss_mib:,.0f}{'' if row.peak_scope == 'row' else '*'}"
        agreement = "-" if row.agreement is None else f"{100 * row.agreement:.2f}%"
        table.add_row(row.precision, str(row.threads), str(row.batch_size), f"{row.words_per_s:,.0f}", ci, f"{row.sentences_per_s:,.0f}",
                      f"{row.batch_ms_p50:,.1f} / {row.batch_ms_p95:,.1f}", peak, agreement)
    return table
