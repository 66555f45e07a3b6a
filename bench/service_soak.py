"""Soak test of the HTTP service: slow clients, one flooding client and normal clients at once, on loopback.

    python bench/service_soak.py --model models/quickstart --seconds 60

Starts ``serve.py`` (its default options, and ``--serve-options``) on 127.0.0.1, on a free port, and
runs for ``--seconds``:

- ``--slow`` slow clients, a third of each kind, each opening a new connection 0.2 s after the
  server closes its last: request headers never finished (a header line every 2 s); a body on
  ``POST /annotate`` that stops after 1 MB of a declared 10 MB (a byte every 5 s after); a declared
  10 MB body on ``GET /health``, sent 64 KB at a time;
- one flooding client: ``--flood-connections`` connections sending ``/annotate`` requests of
  max_texts texts (``GET /info``), back to back, ignoring Retry-After;
- ``--normal`` normal clients, one connection each, sending small ``/annotate`` requests (one to
  three sentences) back to back.

Every client has its own loopback address (127.0.x.y), as separate machines would, since the service
tells clients apart by peer address; the slow clients and the flooder run in a second process. Texts are the sentences of ``--corpus``. Prints the normal
clients' requests, errors and latency (p50, p99, worst), the flooder's answers (200 and 503), the
slow connections (opened, closed by the server, still open at the end, the longest held), the time
one piece (max_batch texts) takes alone, and the server's peak memory (VmHWM of its process).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shlex
import socket
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service import ROOT, serve

from tagger.data.readers import read_corpus

MiB = 1024 * 1024
FLOOD_ADDRESS = "127.0.0.2"
RECONNECT_S = 0.2  # a slow client opens its next connection this long after the server closed its last


def address(kind: int, index: int) -> str:
    """The loopback address of a client: 127.0.0.2 the flooder, 127.0.<kind>.<index> the others."""
    return f"127.0.{kind}.{index % 250 + 3}"


@dataclass
class SlowStats:
    opened: int = 0
    closed_by_server: int = 0
    open_now: int = 0
    longest_s: float = 0.0
    answers: Counter = field(default_factory=Counter)  # the status line the server sent before closing


@dataclass
class Results:
    normal_latencies: list[float] = field(default_factory=list)  # of the answered (200) requests, seconds
    normal_errors: Counter = field(default_factory=Counter)
    flood: Counter = field(default_factory=Counter)
    slow: SlowStats = field(default_factory=SlowStats)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of process ``pid``, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


async def headers_never_finished(writer: asyncio.StreamWriter) -> None:
    writer.write(b"POST /annotate HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n")
    while True:
        await writer.drain()
        await asyncio.sleep(2)
        writer.write(b"X-Still-Coming: 1\r\n")


async def stalled_body(writer: asyncio.StreamWriter) -> None:
    head = f"POST /annotate HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: {10 * MiB}\r\n\r\n"
    writer.write(head.encode() + b'{"texts": ["')
    for _ in range(16):  # 1 MB, 64 KB at a time
        writer.write(b"a" * 65536)
        await writer.drain()
    while True:
        await asyncio.sleep(5)
        writer.write(b"a")
        await writer.drain()


async def body_on_health(writer: asyncio.StreamWriter) -> None:
    writer.write(f"GET /health HTTP/1.1\r\nHost: soak\r\nContent-Length: {10 * MiB}\r\n\r\n".encode())
    while True:
        writer.write(b"x" * 65536)
        await writer.drain()
        await asyncio.sleep(0.5)


SLOW_KINDS = (headers_never_finished, stalled_body, body_on_health)


async def slow_client(index: int, port: int, until: float, stats: SlowStats) -> None:
    """One slow client: a connection of its kind at a time, a new one whenever the server closes the last."""
    send = SLOW_KINDS[index % len(SLOW_KINDS)]
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address(1, index), 0))
        except OSError:
            await asyncio.sleep(0.5)
            continue
        stats.opened += 1
        stats.open_now += 1
        opened = time.monotonic()
        sender = asyncio.create_task(send(writer))
        answer, closed = await until_closed(reader, until)
        sender.cancel()
        writer.close()
        stats.longest_s = max(stats.longest_s, time.monotonic() - opened)
        if not closed:
            return  # the soak is over with this connection still open
        stats.closed_by_server += 1
        stats.open_now -= 1
        stats.answers[answer.split(b"\r\n", 1)[0].decode("latin-1") or "(closed, no answer)"] += 1
        await asyncio.sleep(RECONNECT_S)


async def until_closed(reader: asyncio.StreamReader, until: float) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection or monotonic time ``until``; whether it closed it."""
    answer = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), max(until - time.monotonic(), 0.01)):
            answer += chunk
    except asyncio.TimeoutError:
        return answer, False
    except ConnectionError:  # reset: it closed while we were still sending
        pass
    return answer, True


async def flooder(url: str, texts: list[str], connections: int, until: float, results: Results) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=FLOOD_ADDRESS, limits=httpx.Limits(max_connections=connections), verify=False)
    async with httpx.AsyncClient(transport=transport, base_url=url, timeout=120) as client:
        async def one_connection() -> None:
            while time.monotonic() < until:
                try:
                    response = await client.post("/annotate", json={"texts": texts})
                    results.flood[str(response.status_code)] += 1
                except httpx.HTTPError as error:
                    results.flood[type(error).__name__] += 1

        await asyncio.gather(*(one_connection() for _ in range(connections)))


async def normal_client(index: int, client: httpx.AsyncClient, sentences: list[str], until: float, results: Results) -> None:
    async with client:
        n = index
        while time.monotonic() < until:
            texts = [sentences[(n + i) % len(sentences)] for i in range(1 + n % 3)]
            n += 7
            started = time.perf_counter()
            try:
                response = await client.post("/annotate", json={"texts": texts})
            except httpx.HTTPError as error:
                results.normal_errors[type(error).__name__] += 1
                continue
            if response.status_code == 200:
                results.normal_latencies.append(time.perf_counter() - started)
            else:
                results.normal_errors[str(response.status_code)] += 1


async def hostile_clients(url: str, port: int, args: argparse.Namespace, flood: list[str], until: float) -> Results:
    results = Results()
    slow = [asyncio.create_task(slow_client(i, port, until, results.slow)) for i in range(args.slow)]
    await asyncio.sleep(1)  # the slow connections open first
    await flooder(url, flood, args.flood_connections, until, results)
    await asyncio.gather(*slow)
    return results


def hostile_process(url: str, port: int, args: argparse.Namespace, flood: list[str], until: float, out: Connection) -> None:
    """The slow clients and the flooder, in a process of their own: their work on the client side
    must not delay the normal clients' requests, nor add to the latencies they measure."""
    results = asyncio.run(hostile_clients(url, port, args, flood, until))
    out.send((results.flood, results.slow))


def soak(url: str, port: int, args: argparse.Namespace, sentences: list[str], flood: list[str]) -> Results:
    until = time.monotonic() + 1 + args.seconds  # monotonic time is the machine's, the same in both processes
    receiving, sending = multiprocessing.Pipe(duplex=False)
    hostile = multiprocessing.get_context("fork").Process(target=hostile_process, args=(url, port, args, flood, until, sending))
    hostile.start()
    results = Results()

    async def normal_clients() -> None:
        # Made first (no TLS: a client's certificates take tens of ms to load), so that no client's
        # first request waits for the others to be made.
        clients = [httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address(2, i), verify=False), base_url=url,
                                     timeout=120) for i in range(args.normal)]
        await asyncio.sleep(1)  # the slow connections open first
        await asyncio.gather(*(normal_client(i, client, sentences, until, results) for i, client in enumerate(clients)))

    asyncio.run(normal_clients())
    results.flood, results.slow = receiving.recv()
    hostile.join()
    return results


def piece_seconds(url: str, sentences: list[str], max_batch: int) -> float:
    """The best of three: how long one request of one piece (max_batch texts) takes, the service idle."""
    texts = [sentences[i % len(sentences)] for i in range(max_batch)]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        httpx.post(f"{url}/annotate", json={"texts": texts}, timeout=120).raise_for_status()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model directory")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--slow", type=int, default=200, help="slow clients (a third of each kind)")
    parser.add_argument("--normal", type=int, default=20, help="normal clients")
    parser.add_argument("--flood-connections", type=int, default=2, help="connections of the flooding client")
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "sample" / "train.conll"), help="where the texts come from")
    parser.add_argument("--serve", type=Path, default=ROOT / "serve.py", help="the serve.py to run (another checkout's, to compare)")
    parser.add_argument("--serve-options", default="", help='more options for serve.py, e.g. "--body-timeout 5"')
    args = parser.parse_args()
    sentences = [" ".join(sentence.tokens) for sentence in read_corpus(args.corpus)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(args.model, port, 256, args.serve, shlex.split(args.serve_options))
    try:
        limits = httpx.get(f"{url}/info", timeout=30).json()["limits"]
        piece = piece_seconds(url, sentences, limits["max_batch"])
        before = memory(server.pid)
        flood = [sentences[i % len(sentences)] for i in range(limits["max_texts"])]
        results = soak(url, port, args, sentences, flood)
        after = memory(server.pid)
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(args, results, piece, before, after, alive)


def report(args: argparse.Namespace, results: Results, piece: float, before: dict[str, int], after: dict[str, int], alive: bool) -> None:
    latencies = sorted(results.normal_latencies)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    table = Table(title=f"serve.py {args.serve_options} for {args.seconds:g} s: {args.normal} normal clients, 1 flooding client "
                        f"({args.flood_connections} connections), {args.slow} slow clients; model {args.model}")
    table.add_column("what")
    table.add_column("measured", justify="right")
    slow = results.slow
    worst = latencies[-1] if latencies else float("nan")
    rows = [
        ("normal requests answered", f"{len(latencies):,}"),
        ("normal requests failed", f"{sum(results.normal_errors.values()):,} {dict(results.normal_errors) or ''}"),
        ("normal latency p50 / p99 / worst (ms)", f"{1000 * quantiles[49]:.0f} / {1000 * quantiles[98]:.0f} / {1000 * worst:.0f}"),
        ("one piece alone, idle service (ms)", f"{1000 * piece:.0f}"),
        ("flooding client's answers", ", ".join(f"{status}: {count:,}" for status, count in sorted(results.flood.items()))),
        ("slow connections opened / closed by the server", f"{slow.opened:,} / {slow.closed_by_server:,}"),
        ("slow connections still open at the end", f"{slow.open_now:,}"),
        ("longest a slow connection was held (s)", f"{slow.longest_s:.1f}"),
        ("what the server said to slow clients", ", ".join(f"{line}: {n}" for line, n in slow.answers.most_common())),
        ("server memory before / at the end / peak (MB)", f"{before['VmRSS'] / MiB:.0f} / {after['VmRSS'] / MiB:.0f} / {after['VmHWM'] / MiB:.0f}"),
        ("server still running", str(alive)),
    ]
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
