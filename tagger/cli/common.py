"""What every command shares: the app, the consoles, how an error is shown, the score table, the precision option."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tagger.types import PRECISION_HELP, TaskScores

app = typer.Typer(help="Sequence labelling with deep bidirectional LSTM/GRU taggers.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
console = Console(stderr=True, soft_wrap=True)  # progress, summaries, errors
out = Console(soft_wrap=True)  # results: tables and JSON on standard output

PrecisionOption = Annotated[str, typer.Option(help=escape(PRECISION_HELP))]


def fail(error: Exception) -> None:
    """Print ``error`` as one line and exit with status 1."""
    console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(code=1)


def headline_text(scores: dict[str, Any]) -> str:
    """A task's headline metric (F1 for span tasks, else accuracy) as recorded, in percent."""
    return f"{100 * TaskScores.from_dict(scores).main:.2f}"


def scores_table(title: str, scores: dict[str, TaskScores]) -> Table:
    table = Table(title=title)
    for column in ("task", "metric", "value"):
        table.add_column(column)
    for task, task_scores in scores.items():
        for metric in ("accuracy", "precision", "recall", "f1"):
            if metric in task_scores.metrics:
                table.add_row(task, metric, f"{100 * task_scores.metrics[metric]:.2f}")
    return table
