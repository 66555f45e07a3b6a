"""HTTP service for a trained tagger: ``python serve.py --model models/quickstart``.

Endpoints: POST /annotate, POST /fill-mask (models with a masked-token head), GET /health,
GET /info, and the OpenAPI docs at /docs. Binds to 127.0.0.1 unless told otherwise; set
BIRNN_TAGGER_TOKEN to require ``Authorization: Bearer <token>`` on every endpoint but /health.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def argument_parser() -> argparse.ArgumentParser:
    """``--model`` and one option per service setting and run option (``tagger.service.settings``,
    ``tagger.core.runtime.RunOptions``), each checked as its field is."""
    from tagger.core.config import options_of
    from tagger.core.runtime import RunOptions
    from tagger.service.settings import ServiceSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model directory (fixed for the life of the service)")
    for option in [*options_of(ServiceSettings), *options_of(RunOptions)]:
        parser.add_argument(option.flag, dest=option.name, metavar=option.flag[2:].replace("-", "_").upper(), type=checked(option.parse),
                            default=option.default, help=f"{option.help} (default: {option.shown or option.default})".replace("%", "%%"))
    return parser


def checked(parse: Callable[[str], object]):  # noqa: ANN201 - an argparse type
    """An argparse type: ``parse(text)``, its ConfigError a usage error in the field's words."""
    from tagger.core.errors import ConfigError

    def parse_option(text: str) -> object:
        try:
            return parse(text)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(error.reason) from None

    return parse_option


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, load and try the model, and serve it on uvicorn until interrupted; a
    model that cannot serve exits with one line on standard error (status 1) before anything binds."""
    command_line = argument_parser()
    args = vars(command_line.parse_args(argv))
    model = args.pop("model")

    from dataclasses import fields

    from tagger.core.errors import TaggerError
    from tagger.core.runtime import RunOptions
    from tagger.service import ServiceSettings
    from tagger.service.server import prepare, run

    run_fields = {item.name for item in fields(RunOptions)}
    try:
        run_options = RunOptions(**{name: value for name, value in args.items() if name in run_fields})
        settings = ServiceSettings(**{name: value for name, value in args.items() if name not in run_fields}, run=run_options)
        app = prepare(model, settings)
    except TaggerError as error:  # a model that cannot serve, or a precision this model or machine cannot run
        raise SystemExit(f"error: {error}") from None
    run(app, settings)


if __name__ == "__main__":
    main()
