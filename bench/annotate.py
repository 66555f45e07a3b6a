"""Throughput and memory of ``tagger annotate`` on large inputs made by repeating the EWT test text.

    python bench/annotate.py --model models/uner-en-ewt-ner --words 1000000

Writes a text file of about ``--words`` words (the raw text of the EWT test sentences, one per line,
repeated), runs ``tagger annotate`` on it with 1 and 2 workers, then on a file ``--scale`` times
smaller to show that peak memory does not grow with the input. Each run is a fresh process; peak
memory is the largest resident set among it and its workers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spacy_pipeline import sentence_texts  # noqa: E402


def run(model: str, source: Path, output: Path, workers: int) -> tuple[float, float]:
    """Seconds and peak MiB of one ``tagger annotate`` process (with its workers)."""
    script = (
        "import resource, subprocess, sys, json;"
        "start = __import__('time').perf_counter();"
        f"subprocess.run([sys.executable, '-m', 'tagger', 'annotate', {model!r}, {str(source)!r}, '-o', {str(output)!r}, '--workers', '{workers}'], check=True, capture_output=True);"
        "print(json.dumps([__import__('time').perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    seconds, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/uner-en-ewt-ner")
    parser.add_argument("--words", type=int, default=1_000_000)
    parser.add_argument("--scale", type=int, default=10, help="the small input is this many times smaller")
    args = parser.parse_args()

    texts = sentence_texts("ud-en-ewt:test")
    words_per_pass = sum(len(t.split()) for t in texts)
    table = Table(title=f"tagger annotate, model {args.model}, text lines of the EWT test set repeated")
    for column in ("input words", "workers", "seconds", "words/s", "peak MiB"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as scratch:
        for words, workers in ((args.words // args.scale, 1), (args.words, 1), (args.words, 2)):
            source = Path(scratch) / f"in-{words}.txt"
            if not source.exists():
                repeats = max(1, round(words / words_per_pass))
                with source.open("w", encoding="utf-8") as handle:
                    for _ in range(repeats):
                        handle.writelines(t.replace("\n", " ") + "\n" for t in texts)
            counted = sum(len(line.split()) for line in source.open(encoding="utf-8"))
            seconds, peak = run(args.model, source, Path(scratch) / "out.jsonl", workers)
            table.add_row(f"{counted:,}", str(workers), f"{seconds:.1f}", f"{counted / seconds:,.0f}", f"{peak:,.0f}")
            Console().print(f"{counted:,} words, {workers} workers: {seconds:.1f} s, peak {peak:,.0f} MiB")
            time.sleep(1)
    Console().print(table)
    Console().print("words: whitespace-separated words of the input (the tokenizer splits punctuation off, so it labels more tokens)")


if __name__ == "__main__":
    main()
