"""``tagger serve``: the HTTP service, with the same options as serve.py (tagger.service.settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tagger.cli.common import app, fail
from tagger.cli.options import declared, picked, run_options
from tagger.core.errors import TaggerError
from tagger.core.runtime import RunOptions
from tagger.service.settings import ServiceSettings


@app.command()
@declared(ServiceSettings, RunOptions)
def serve(model: Annotated[Path, typer.Argument(help="A model directory (fixed for the life of the service).")], **options: Any) -> None:
    """Run the HTTP service (as serve.py): /annotate, /fill-mask, /health, /info, docs at /docs."""
    from tagger.service.server import prepare, run

    try:
        settings = ServiceSettings(**picked(ServiceSettings, options), run=run_options(options))
        application = prepare(model, settings)  # the model loaded and tried before anything binds
    except TaggerError as error:
        fail(error)
    run(application, settings)
