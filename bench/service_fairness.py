"""How long a one-line request waits behind one large request, on the HTTP service.

    python bench/service_fairness.py --model models/ud-en-ewt-upos-glove --tokens 1000000

Starts ``serve.py`` on loopback, sends one request of ``--tokens`` tokens (token lists of 1,000
tokens each, cut from EWT test sentences) and, ``--delay`` seconds later, a one-line request; then
prints how long each took. Before large requests were labelled in pieces that take turns, the
one-line request waited for the whole large one.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import ROOT, serve  # noqa: E402

from tagger.data.readers import read_corpus  # noqa: E402


def token_lists(corpus: str, tokens: int, length: int = 1000) -> list[list[str]]:
    words = [token for sentence in read_corpus(corpus) for token in sentence.tokens]
    stream = (words[i % len(words)] for i in range(tokens))
    flat = list(stream)
    return [flat[i : i + length] for i in range(0, len(flat), length)]


async def scenario(url: str, large: list[list[str]], delay: float) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        async def timed(body: dict) -> float:
            started = time.perf_counter()
            response = await client.post("/annotate", json=body)
            response.raise_for_status()
            return time.perf_counter() - started

        big = asyncio.create_task(timed({"texts": large}))
        await asyncio.sleep(delay)
        small = await timed({"texts": ["Maria Lopez moved to Chicago ."]})
        return {"large": await big, "small": small}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", default="../shared/corpora/ud-en-ewt/en_ewt-ud-test.conllu")
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds between the large and the one-line request")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--serve", type=Path, default=ROOT / "serve.py", help="the serve.py to run (another checkout's, to compare)")
    args = parser.parse_args()
    large = token_lists(args.corpus, args.tokens)
    server = serve(args.model, args.port, 256, args.serve, ["--request-timeout", "0"])  # the large request takes minutes
    try:
        result = asyncio.run(scenario(f"http://127.0.0.1:{args.port}", large, args.delay))
    finally:
        server.terminate()
        server.wait()
    table = Table(title=f"one large request ({args.tokens:,} tokens in {len(large)} token lists) and a one-line request {args.delay:g} s later")
    for column in ("request", "seconds to answer"):
        table.add_column(column)
    table.add_row("large", f"{result['large']:.1f}")
    table.add_row("one line", f"{result['small']:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
