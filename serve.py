"""HTTP service for a trained tagger: ``python serve.py --model models/quickstart``.

Endpoints: POST /annotate, POST /fill-mask (models with a masked-token head), GET /health,
GET /info, and the OpenAPI docs at /docs. Binds to 127.0.0.1 unless told otherwise; set
BIRNN_TAGGER_TOKEN to require ``Authorization: Bearer <token>`` on every endpoint but /health.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def in_range(low: float, high: float | None = None, kind: type = int):  # noqa: ANN201 - an argparse type
    """An argparse type: a number of ``kind`` in [low, high], else a usage error naming the range."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not in [{low}, {high if high is not None else '...'}]")
        return value

    return parse


def argument_parser() -> argparse.ArgumentParser:
    """``--model`` and one option per service setting (``tagger.service.settings``), ranges checked."""
    from tagger.service.settings import options

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model directory (fixed for the life of the service)")
    for option in options():
        if option.parse is not None:
            kind = checked(option.parse)
        elif option.kind in (int, float) and option.low is not None:
            kind = in_range(option.low, option.high, option.kind)
        else:
            kind = option.kind
        parser.add_argument(option.flag, dest=option.name, metavar=option.flag[2:].replace("-", "_").upper(), type=kind,
                            default=option.default, help=f"{option.help} (default: {option.shown or option.default})".replace("%", "%%"))
    return parser


def checked(parse: Callable[[str], object]):  # noqa: ANN201 - an argparse type
    """An argparse type: ``parse(text)``, its ValueError a usage error with the same message."""
    def parse_option(text: str) -> object:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse_option


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, load and try the model, and serve it on uvicorn until interrupted; a
    model that cannot serve exits with one line on standard error (status 1) before anything binds."""
    command_line = argument_parser()
    args = vars(command_line.parse_args(argv))
    model = args.pop("model")

    from tagger.errors import TaggerError
    from tagger.service import ServiceSettings
    from tagger.service.server import prepare, run

    settings = ServiceSettings(**args)
    try:
        app = prepare(model, settings)
    except TaggerError as error:  # a model that cannot serve, or a precision this model or machine cannot run
        raise SystemExit(f"error: {error}") from None
    except ValueError as error:  # a limit out of range
        command_line.error(str(error))
    run(app, settings)


if __name__ == "__main__":
    main()
