"""HTTP service for a trained tagger: ``python serve.py --model models/quickstart``.

Endpoints: POST /annotate, POST /fill-mask (models with a masked-token head), GET /health,
GET /info, and the OpenAPI docs at /docs. Binds to 127.0.0.1 unless told otherwise; set
BIRNN_TAGGER_TOKEN to require ``Authorization: Bearer <token>`` on every endpoint but /health.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model directory (fixed for the life of the service)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-batch", type=int, default=256, help="texts merged into one model call at most")
    parser.add_argument("--max-wait-ms", type=float, default=0.0, help="how long a batch waits for more texts (0: it takes what queued up while the model was busy)")
    args = parser.parse_args(argv)

    import uvicorn

    from tagger.service import create_app

    uvicorn.run(create_app(args.model, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
