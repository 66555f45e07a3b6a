"""Load test of the HTTP service on loopback: requests/s and latency at 1, 8 and 32 concurrent clients.

    python bench/service.py --model models/uner-en-ewt-ner --requests 600

Starts ``serve.py`` twice: with micro-batching (``--max-batch 256``) and without (``--max-batch 1``).
Each request asks ``POST /annotate`` for one EWT test sentence (raw text); clients send their next
request as soon as the previous answer arrives. A bounded number of requests per setting.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spacy_pipeline import sentence_texts  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


async def load(url: str, texts: list[str], clients: int, total: int) -> tuple[float, list[float]]:
    """Seconds for ``total`` requests from ``clients`` concurrent clients, and each request's latency."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def client(session: httpx.AsyncClient) -> None:
        for n in counter:
            start = time.perf_counter()
            response = await session.post(f"{url}/annotate", json={"texts": [texts[n % len(texts)]]})
            response.raise_for_status()
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return time.perf_counter() - started, latencies


def serve(model: str, port: int, max_batch: int, script: Path = ROOT / "serve.py", options: Sequence[str] = ()) -> subprocess.Popen:
    """Start ``script`` (a serve.py) on loopback and wait until /health answers."""
    process = subprocess.Popen([sys.executable, str(script), "--model", model, "--port", str(port), "--max-batch", str(max_batch), *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/uner-en-ewt-ner")
    parser.add_argument("--requests", type=int, default=600, help="requests per setting")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    texts = sentence_texts("ud-en-ewt:test")
    table = Table(title=f"POST /annotate, one EWT test sentence per request, {args.requests} requests per row, model {args.model}")
    for column in ("max batch", "clients", "requests/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for max_batch in (256, 1):
        process = serve(args.model, args.port, max_batch)
        try:
            asyncio.run(load(f"http://127.0.0.1:{args.port}", texts, 4, 40))  # warm-up
            for clients in (1, 8, 32):
                seconds, latencies = asyncio.run(load(f"http://127.0.0.1:{args.port}", texts, clients, args.requests))
                quantiles = statistics.quantiles(latencies, n=100)
                table.add_row(str(max_batch), str(clients), f"{len(latencies) / seconds:,.0f}", f"{1000 * quantiles[49]:.1f}", f"{1000 * quantiles[98]:.1f}")
        finally:
            process.terminate()
            process.wait(timeout=30)
    Console().print(table)


if __name__ == "__main__":
    main()
