"""Epoch time and training tokens/s against the size of the word-vector table.

    python bench/train_speed.py --config configs/uner-en-ewt-ner-glove.toml \
        --vectors glove-6b-50d ../vectors/random-300d.bin [--code ../old-checkout] [--threads 2]
    python bench/train_speed.py --make-vectors ../vectors/random-300d.bin --dim 300 --like glove-6b-50d

Each row trains one epoch of ``--config`` with ``embeddings.pretrained`` set to one of ``--vectors``, in a
fresh process (``python -m tagger.cli train``) whose working folder is ``--code`` (this checkout, and
any other given, so that its ``tagger`` package is the one imported), with ``--threads`` torch threads;
it reports the epoch's seconds, training tokens/s, the size of the word table and the dev score after
that epoch, read from the run's ``metrics.jsonl`` and ``meta.json``. Run it alone on the machine.

``--make-vectors`` writes random vectors (word2vec binary, normal with the scale of GloVe's values) for
the words of ``--like``, so that a table of any size can be had without downloading one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parents[1]


def make_vectors(path: Path, dim: int, like: str) -> None:
    from tagger.data.vectors import read_vectors

    words = read_vectors(like).words
    rng = np.random.default_rng(0)
    with open(path, "wb") as out:
        out.write(f"{len(words)} {dim}\n".encode())
        for word in words:
            out.write(word.encode("utf-8") + b" " + (rng.standard_normal(dim).astype(np.float32) * 0.4).tobytes() + b"\n")
    print(f"{path}: {len(words):,} random vectors of {dim} values")


def one_epoch(code: Path, config: Path, vectors: str, threads: int, scratch: Path) -> dict:
    output = scratch / "model"
    command = [sys.executable, "-m", "tagger.cli", "train", str(config.resolve()), "-o", str(output), "--overwrite",
               "--set", "training.max_epochs=1", "--set", f"embeddings.pretrained={vectors}", "--set", f"training.threads={threads}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{code}: {' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    record = json.loads((output / "metrics.jsonl").read_text().splitlines()[0])
    meta = json.loads((output / "meta.json").read_text())
    config_json = json.loads((output / "config.json").read_text())
    words = len(json.loads((output / "vocab.json").read_text())["words"])
    return {"seconds": record["seconds"], "tokens_per_second": record["tokens_per_second"], "dev": record["dev_main"],
            "table": f"{words:,} x {config_json['embeddings']['word_dim']}", "parameters": meta.get("parameters", 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=HERE / "configs" / "uner-en-ewt-ner-glove.toml")
    parser.add_argument("--vectors", nargs="+", default=["glove-6b-50d"])
    parser.add_argument("--code", nargs="+", type=Path, default=[HERE])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--make-vectors", type=Path)
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--like", default="glove-6b-50d")
    args = parser.parse_args()
    if args.make_vectors:
        make_vectors(args.make_vectors, args.dim, args.like)
        return
    table = Table(title=f"one epoch of {args.config.name}, {args.threads} threads")
    for column in ("code", "vectors", "word table", "parameters", "epoch s", "tokens/s", "dev after 1 epoch"):
        table.add_column(column, justify="left" if column in ("code", "vectors") else "right")
    for code in args.code:
        for vectors in args.vectors:
            with tempfile.TemporaryDirectory() as scratch:
                found = one_epoch(code, args.config, vectors, args.threads, Path(scratch))
            table.add_row(str(code), vectors, found["table"], f"{found['parameters']:,}", f"{found['seconds']:.1f}",
                          f"{found['tokens_per_second']:,.0f}", f"{100 * found['dev']:.2f}")
            Console().print(f"{code} {vectors}: {found}")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
