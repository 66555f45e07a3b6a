"""Train a shipped config, then measure what BENCHMARKS.md reports.

    python bench/train_eval.py configs/ud-en-ewt-upos.toml --output models/ud-en-ewt-upos

Prints one table: test scores, training time and tokens/s, inference words/s
(pre-tokenized test sentences, batch 256, one process) and peak memory of the
training and of a separate inference process. ``--model DIR`` skips training and
measures an existing model.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited across fork/exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_inference(model_dir: str, batch_size: int, repeats: int) -> dict:
    """Words/s of Tagger.predict_sentences over the model's test corpus (run in its own process)."""
    import torch

    from tagger.core.types import Sentence
    from tagger.data import load_sentences
    from tagger.model.predict import Tagger

    tagger = Tagger.load(model_dir)
    gold = load_sentences(tagger.config.data.test, tagger.config.tasks)
    inputs = [Sentence(s.tokens) for s in gold]
    words = sum(len(s) for s in inputs)
    list(tagger.predict_sentences(inputs[:batch_size], batch_size))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        list(tagger.predict_sentences([Sentence(s.tokens) for s in inputs], batch_size))
        best = min(best, time.perf_counter() - start)
    return {"words": words, "words_per_second": words / best, "threads": torch.get_num_threads(), "peak_mib": peak_rss_mib()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?")
    parser.add_argument("--output", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--model", help="measure this model instead of training one")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--inference-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.inference_only:
        print(json.dumps(measure_inference(args.model, args.batch_size, args.repeats)))
        return

    rows: dict[str, str] = {}
    model_dir = args.model
    if model_dir is None:
        from tagger.cli.train import ProgressMonitor
        from tagger.data.configs import load_config
        from tagger.training import train

        config = load_config(args.config, args.overrides)
        model_dir = args.output or f"models/{Path(args.config).stem}"
        result = train(config, model_dir, monitor=ProgressMonitor())
        rows["training time"] = f"{result.seconds / 60:.1f} min ({len(result.epochs)} epochs, best {result.best_epoch})"
        rows["training tokens/s"] = f"{result.train_tokens_per_second:,.0f}"
        rows["training peak memory"] = f"{peak_rss_mib():,.0f} MiB"
    meta = json.loads((Path(model_dir) / "meta.json").read_text())
    for split in ("dev", "test"):
        for task, values in meta.get("scores", {}).get(split, {}).items():
            shown = {m: values[m] for m in ("accuracy", "precision", "recall", "f1") if m in values}
            rows[f"{split} {task}"] = ", ".join(f"{m} {100 * v:.2f}" for m, v in shown.items())
    measured = subprocess.run(
        [sys.executable, __file__, "--inference-only", "--model", model_dir, "--batch-size", str(args.batch_size), "--repeats", str(args.repeats)],
        check=True, capture_output=True, text=True,
    )
    inference = json.loads(measured.stdout.strip().splitlines()[-1])
    rows[f"inference words/s (batch {args.batch_size})"] = f"{inference['words_per_second']:,.0f} over {inference['words']:,} words, {inference['threads']} threads"
    rows["inference peak memory"] = f"{inference['peak_mib']:,.0f} MiB"
    rows["machine"] = f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"

    table = Table(title=f"birnn-tagger benchmark: {args.config or model_dir}")
    table.add_column("measure")
    table.add_column("value")
    for key, value in rows.items():
        table.add_row(key, value)
    Console().print(table)


if __name__ == "__main__":
    main()
