"""HTTP service for a trained tagger: ``python serve.py --model models/quickstart``.

Endpoints: POST /annotate, POST /fill-mask (models with a masked-token head), GET /health,
GET /info, and the OpenAPI docs at /docs. Binds to 127.0.0.1 unless told otherwise; set
BIRNN_TAGGER_TOKEN to require ``Authorization: Bearer <token>`` on every endpoint but /health.
"""

from __future__ import annotations

import argparse


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


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve the model on uvicorn until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model directory (fixed for the life of the service)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=in_range(1, 65535), default=8000, help="port (default: 8000)")
    parser.add_argument("--max-batch", type=in_range(1), default=256, help="texts merged into one model call at most (default: 256)")
    parser.add_argument("--max-wait-ms", type=in_range(0, kind=float), default=0.0,
                        help="how long a batch waits for more texts (default 0: it takes what queued up while the model was busy)")
    parser.add_argument("--max-texts", type=in_range(1), default=1000, help="texts per request at most (default: 1000)")
    parser.add_argument("--max-chars", type=in_range(1), default=100_000, help="characters per text at most (default: 100000)")
    parser.add_argument("--max-body-bytes", type=in_range(1), default=10 * 1024 * 1024, help="request body size at most (default: 10 MiB)")
    parser.add_argument("--max-queued", type=in_range(1), default=None,
                        help="texts accepted and not yet answered at most; more get 503 (default: max(4 x max-batch, max-texts))")
    parser.add_argument("--request-timeout", type=in_range(0, kind=float), default=30.0,
                        help="seconds a request waits for its results before it gets 503; 0: no limit (default: 30)")
    parser.add_argument("--precision", choices=("fp32", "int8", "int8-all"), default="fp32",
                        help="fp32 (default); int8: the LSTM encoder in ONNX Runtime with int8 weights on layers 2+ "
                             "(CPU, about x1.5 faster; pip install 'birnn-tagger[onnx]'); int8-all: every layer")
    args = parser.parse_args(argv)

    import uvicorn

    from tagger.errors import TaggerError
    from tagger.service import create_app

    try:
        app = create_app(args.model, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, max_texts=args.max_texts,
                         max_chars=args.max_chars, max_body_bytes=args.max_body_bytes, max_queued=args.max_queued,
                         request_timeout_s=args.request_timeout, precision=args.precision)
    except (TaggerError, ValueError) as error:  # a limit out of range, or a precision this model or machine cannot run
        parser.error(str(error))
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
