"""``tagger evaluate``: score a model on a labelled corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import PrecisionOption, app, console, fail, out, scores_table
from tagger.errors import TaggerError


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    corpus: Annotated[str, typer.Argument(help="A labelled file, or a catalogue corpus such as ud-en-ewt:test.")],
    fmt: Annotated[Optional[str], typer.Option("--format", help="conllu, conll, iob2 or jsonl; default from the extension.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object of scores.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write per-label tables and confusion-matrix PNGs here.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    precision: PrecisionOption = "fp32",
) -> None:
    """Score a model on a labelled corpus."""
    from tagger.data import load_sentences, source_for_file
    from tagger.evaluation import label_and_score, unseen_labels
    from tagger.predict import Tagger

    try:
        tagger = Tagger.load(model, precision=precision)
        source = source_for_file(corpus, fmt, tagger.config.data.train)
        gold = load_sentences([source], tagger.config.tasks)
        unseen = unseen_labels(gold, tagger.task_specs)
        if unseen:
            console.print(f"[yellow]warning[/]: {escape(unseen)}", highlight=False)
        predictions, scores = label_and_score(tagger, gold, batch_size)
    except TaggerError as error:
        fail(error)
        return
    if not scores:
        fail(TaggerError(f"{corpus} has labels for none of the model's tasks ({', '.join(tagger.tasks)})"))
    if report:
        from tagger.report import write_report

        write_report(report, gold, predictions, scores, tagger.task_specs)
    if as_json:
        out.print(json.dumps({task: s.to_dict() for task, s in scores.items()}), highlight=False)
        return
    out.print(scores_table(f"{corpus}", scores))
    for task, task_scores in scores.items():
        if task_scores.kind == "spans":
            table = Table(title=f"{task} per label")
            for column in ("label", "precision", "recall", "f1", "support"):
                table.add_column(column)
            for label, row in task_scores.per_label.items():
                table.add_row(label, *(f"{100 * row[m]:.2f}" for m in ("precision", "recall", "f1")), f"{row['support']:.0f}")
            out.print(table)
    if report:
        out.print(f"report written to {report}")
