"""``tagger serve``: the HTTP service, with the same options as serve.py (tagger.service.settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tagger.cli.common import app, fail
from tagger.errors import TaggerError


def _service_options(command: Any) -> Any:
    """``command`` with its ``**options`` replaced by one option per service setting: flag, default,
    range and help from ``tagger.service.settings``, as serve.py has them."""
    import inspect

    from tagger.service.settings import options

    signature = inspect.signature(command, eval_str=True)
    fixed = [parameter for parameter in signature.parameters.values() if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    generated = []
    for option in options():
        kind = Optional[option.kind] if option.optional else option.kind
        declared = typer.Option(option.flag, min=option.low, max=option.high, parser=option.parse, help=option.help,
                                show_default=option.shown or True)
        generated.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=option.default,
                                           annotation=Annotated[kind, declared]))  # type: ignore[valid-type]
    command.__signature__ = signature.replace(parameters=[*fixed, *generated])
    return command


@app.command()
@_service_options
def serve(model: Annotated[Path, typer.Argument(help="A model directory (fixed for the life of the service).")], **options: Any) -> None:
    """Run the HTTP service (as serve.py): /annotate, /fill-mask, /health, /info, docs at /docs."""
    from tagger.service import ServiceSettings
    from tagger.service.server import prepare, run

    settings = ServiceSettings(**options)
    try:
        application = prepare(model, settings)  # the model loaded and tried before anything binds
    except (TaggerError, ValueError) as error:  # ValueError: a limit out of range
        fail(error)
        return
    run(application, settings)
