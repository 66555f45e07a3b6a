"""``tagger init config``: a shipped config written to a file to edit (as ``spacy init config``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import App, PlainGroup, app, console, fail, out
from tagger.core.errors import TaggerError, writing
from tagger.files.paths import is_stdin

init_app = App(cls=PlainGroup, help="Start from what the package ships: tagger init config writes a config to edit.", no_args_is_help=True,
               add_completion=False)
app.add_typer(init_app, name="init")


@init_app.command("config")
def init_config(
    name: Annotated[str, typer.Argument(help="A shipped config (tagger init config --list names them).")] = "quickstart",
    output: Annotated[Optional[Path], typer.Argument(help="The file to write; a folder: NAME.toml in it; - prints it. Default NAME.toml in the current folder.")] = None,
    list_configs: Annotated[bool, typer.Option("--list", help="List the shipped configs, each with what it is, and exit.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Write a shipped config (default quickstart) to a file to edit; then tagger train FILE."""
    from tagger.data.configs import describe_shipped, shipped_config
    from tagger.files.atomic import write_atomic
    from tagger.files.outputs import Output, claim

    if list_configs:
        table = Table(title="shipped configs (tagger train NAME from any folder, or tagger init config NAME to edit one)", title_justify="left")
        table.add_column("name")
        table.add_column("what")
        for shipped, what in describe_shipped().items():
            table.add_row(escape(shipped), escape(what))
        out.print(table)
        return
    try:
        source = shipped_config(name)
        text = source.read_text(encoding="utf-8")
        if output is not None and is_stdin(output):
            typer.echo(text, nl=False)
            return
        target = output or Path(f"{source.stem}.toml")
        if target.is_dir():
            target = target / f"{source.stem}.toml"
        with claim([Output(target, "OUTPUT")], [source], overwrite), writing(target, "Nothing was written."):
            write_atomic(target, text)
    except TaggerError as error:
        fail(error)
    console.print(f"wrote the shipped config {escape(source.stem)} to {escape(str(target))}: edit it, then "
                  f"tagger train {escape(str(target))}", highlight=False)
