"""How fast word vectors are read, in each format, and how fast a model with vectors loads.

    python bench/vectors_load.py --glove $BIRNN_TAGGER_DATA/vectors/glove.6B.50d.txt \
        --model models/uner-en-ewt-ner-glove --work /tmp/vectors-bench

Writes 400k x 300 vectors (random values, 6 significant digits, as GloVe's text has) as GloVe text,
the same gzip-compressed and as word2vec binary, then reads each in a fresh process: every vector,
and only those a model takes (the training words of UD English-EWT plus the first 200,000).
``--model`` times ``Tagger.load`` of that model (fresh processes, best of 3) and reports its size.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

READ = """
import json, sys, time
from tagger.data.vectors import read_vectors
wanted = json.load(open(sys.argv[2])) if sys.argv[2] != "-" else ()
top = int(sys.argv[3]) if sys.argv[3] != "-" else None
started = time.perf_counter()
vectors = read_vectors(sys.argv[1], wanted, top)
print(json.dumps({"seconds": time.perf_counter() - started, "kept": len(vectors.words), "total": vectors.total, "dim": vectors.dim}))
"""

LOAD = """
import json, sys, time
started = time.perf_counter()
from tagger import Tagger
imported = time.perf_counter()
Tagger.load(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - imported, "import": imported - started}))
"""


def run(code: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_vectors(folder: Path, rows: int, dim: int) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"GloVe text": folder / "glove.txt", "GloVe text, gzip": folder / "glove.txt.gz", "word2vec binary": folder / "vectors.bin"}
    if all(p.exists() for p in paths.values()):
        return paths
    matrix = np.random.default_rng(0).standard_normal((rows, dim)).astype(np.float32)
    words = [f"w{i}" for i in range(rows)]
    with paths["GloVe text"].open("w") as handle, gzip.open(paths["GloVe text, gzip"], "wt", compresslevel=6) as packed:
        for start in range(0, rows, 20_000):
            values = io.StringIO()
            np.savetxt(values, matrix[start:start + 20_000], fmt="%.6g")
            text = "".join(f"{w} {line}\n" for w, line in zip(words[start:], values.getvalue().splitlines()))
            handle.write(text)
            packed.write(text)
    with paths["word2vec binary"].open("wb") as handle:
        handle.write(f"{rows} {dim}\n".encode())
        for word, row in zip(words, matrix):
            handle.write(word.encode() + b" " + row.tobytes() + b"\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glove", type=Path, help="glove.6B.50d.txt (bench/glove_text.py writes it)")
    parser.add_argument("--model", type=Path, help="a model directory trained with vectors")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vectors-bench"))
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=300)
    args = parser.parse_args()

    from tagger.core.vocab import word_key
    from tagger.data import catalogue
    from tagger.data.readers.conllu import read_conllu
    ewt, _ = catalogue.resolve("ud-en-ewt:train", download=False)
    training = sorted({word_key(t, False) for s in read_conllu(ewt) for t in s.tokens})
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "wanted.json").write_text(json.dumps(training))
    sources = {f"{args.rows // 1000}k x {args.dim}, {name}": path for name, path in write_vectors(args.work, args.rows, args.dim).items()}
    if args.glove:
        sources = {"GloVe 6B 50d (400k x 50), text": args.glove, **sources}

    table = Table(title="reading word vectors (fresh process each; seconds)")
    for column in ("source", "MB on disk", "every vector", "EWT training words + first 200k", "kept"):
        table.add_column(column, justify="right")
    for name, path in sources.items():
        every = run(READ, str(path), "-", "-")
        chosen = run(READ, str(path), str(args.work / "wanted.json"), "200000")
        table.add_row(name, f"{path.stat().st_size / 1e6:,.0f}", f"{every['seconds']:.1f}", f"{chosen['seconds']:.1f}", f"{chosen['kept']:,}")
    Console().print(table)

    if args.model:
        size = sum(p.stat().st_size for p in args.model.iterdir() if p.is_file() and p.name in ("model.safetensors", "vocab.json"))
        words = len(json.loads((args.model / "vocab.json").read_text())["words"])
        loads = [run(LOAD, str(args.model)) for _ in range(3)]
        table = Table(title=f"Tagger.load of {args.model} (fresh process each)")
        for column in ("vocabulary words", "model.safetensors + vocab.json MB", "load seconds (best of 3)", "import seconds"):
            table.add_column(column, justify="right")
        best = min(loads, key=lambda r: r["seconds"])
        table.add_row(f"{words:,}", f"{size / 1e6:,.1f}", f"{best['seconds']:.2f}", f"{best['import']:.2f}")
        Console().print(table)


if __name__ == "__main__":
    main()
