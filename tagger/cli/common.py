"""What every command shares: the app, the consoles, how an error is shown, the score table."""

from __future__ import annotations

import json
import platform
import sys
from importlib import metadata
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperArgument, TyperCommand, TyperGroup

from tagger.core.types import TaskScores

# Typer shows an option's type as <int>, <bool> or <path> and a required argument as {model}; these
# read as words instead: N, PATH, TEXT, no placeholder for a flag, MODEL.
PLACEHOLDERS = {"bool": "", "int": "N", "int range": "N", "float": "NUMBER", "float range": "NUMBER", "path": "PATH", "str": "TEXT", "list[str]": "TEXT"}


def _plain(params: list[Any], ctx: typer.Context) -> None:
    for param in params:
        if isinstance(param, TyperArgument):
            param.metavar = param.metavar or param.name.upper()
            param.display_type_rich = lambda ctx: None  # the argument's name (MODEL) is its placeholder
        elif param.metavar is None:
            param.metavar = PLACEHOLDERS.get(param.display_type(ctx).strip("<>"), "TEXT")


class PlainCommand(TyperCommand):
    """A command whose help prints as written (rich markup in it escaped, so [onnx] stays) with worded placeholders."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = escape(self.help) if self.help else self.help
        for param in self.params:
            param.help = escape(param.help) if param.help else param.help

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)
        _plain(params, ctx)
        return params

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = ["[OPTIONS]"]
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class PlainGroup(TyperGroup):
    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)
        _plain(params, ctx)
        return params


class App(typer.Typer):
    def command(self, *args: Any, cls: type[TyperCommand] = PlainCommand, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line; a read or write error no command expected (a disk gone, a full one
        elsewhere) is one line naming the file, never a traceback."""
        try:
            return super().__call__(*args, **kwargs)
        except OSError as error:
            console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
            sys.exit(1)


app = App(cls=PlainGroup, help="Sequence labelling with deep bidirectional LSTM/GRU taggers.", no_args_is_help=True, add_completion=False,
          pretty_exceptions_show_locals=False)
console = Console(stderr=True, soft_wrap=True, emoji=False)  # progress, summaries, errors (":train:" is no emoji)
out = Console(soft_wrap=True, emoji=False)  # results: tables and JSON on standard output


def versions() -> dict[str, str]:
    """The package's version and those of what it runs on, read from the installed metadata (no import of torch)."""
    found = {"birnn-tagger": metadata.version("birnn-tagger")}
    for package in ("torch", "spacy", "onnxruntime", "ray"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    found["python"] = platform.python_version()
    return found


def _print_version(value: bool) -> None:
    if value:
        out.print("\n".join(f"{name} {version}" for name, version in versions().items()), highlight=False)
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                               help="Print the versions of birnn-tagger, torch, spaCy (and the optional onnxruntime and Ray) and exit.")] = False) -> None:
    """Sequence labelling with deep bidirectional LSTM/GRU taggers."""


def print_json(data: Any) -> None:
    """``data`` as one line of JSON on standard output, as written (no rich markup or emoji codes read into it)."""
    typer.echo(json.dumps(data))


def fail(error: Exception) -> NoReturn:
    """Print ``error`` as one line and exit with status 1."""
    console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(code=1)


def headline_text(scores: dict[str, Any]) -> str:
    """A task's headline metric (F1 for span tasks, else accuracy) as recorded, in percent."""
    return f"{100 * TaskScores.from_dict(scores).headline:.2f}"


def scores_table(title: str, scores: dict[str, TaskScores]) -> Table:
    """A row per task and metric; ``title`` and the task names are shown as written (no rich markup read into them)."""
    table = Table(title=escape(title))
    for column in ("task", "metric", "value"):
        table.add_column(column)
    for task, task_scores in scores.items():
        for metric in ("accuracy", "precision", "recall", "f1"):
            if metric in task_scores.metrics:
                table.add_row(escape(task), metric, f"{100 * task_scores.metrics[metric]:.2f}")
    return table
