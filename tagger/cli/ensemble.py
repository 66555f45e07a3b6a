"""``tagger ensemble``: several models of one config that label together, as one model directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from tagger.cli.common import app, fail, out
from tagger.core.errors import TaggerError


@app.command()
def ensemble(
    models: Annotated[list[Path], typer.Argument(help="Two or more model directories of the same tasks and vocabulary (e.g. DIR/seed-13 DIR/seed-14 of tagger train --seeds).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The ensemble's directory (the members' files are copied into it).")],
    crf: Annotated[str, typer.Option(help='How CRF tasks combine: "emissions" (one CRF of the mean emissions and transitions) or "marginals" (the best allowed path through the mean marginals).')] = "emissions",
    overwrite: Annotated[bool, typer.Option(help="Write into OUTPUT even if it holds files.")] = False,
) -> None:
    """Write an ensemble: a model directory that every command, the service and the spaCy component load as one
    model, labelling with the mean of its members' label distributions."""
    from tagger.model.serialize import save_ensemble
    from tagger.nn.ensemble import CRF_COMBINATIONS

    if crf not in CRF_COMBINATIONS:
        raise typer.BadParameter(f"{crf!r} is not one of {', '.join(CRF_COMBINATIONS)}", param_hint="--crf")
    try:
        loaded = save_ensemble(output, list(models), crf, overwrite=overwrite)
    except TaggerError as error:
        fail(error)
    out.print(f"ensemble of {len(loaded.members)} models ({', '.join(loaded.config.tasks)}; CRF tasks by {crf}) written to "
              f"{escape(str(output))}", highlight=False)
