"""Torch threads on a quiet and on a busy machine: training steps and prediction.

    python bench/threads.py --model models/ud-en-ewt-upos-glove --config configs/ud-en-ewt-upos.toml

Each setting runs in a fresh process: torch's default threads (one per core), 1 thread, one per
core with OpenMP's passive wait policy (``OMP_WAIT_POLICY=PASSIVE``: a waiting thread sleeps at
once instead of spinning), and ``threads = 0``, the package's default: training counts the cores idle
when it starts (``tagger.core.runtime.idle_cores``); a loaded model re-decides before each batch
(``tagger.core.runtime.ThreadPolicy``). Each on a quiet machine and beside one busy process (a
pure-Python loop that keeps one core busy, as another job would). Training: one epoch of
``--train-sentences`` sentences of the config's training data (tokens/s of that epoch).
Prediction: ``--predict-tokens`` tokens of pre-tokenized EWT test sentences (best of 3).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

PREDICT = """
import json, sys, time
import torch
from tagger import Tagger
from tagger.data.readers import read_corpus
tagger = Tagger.load(sys.argv[1], threads=int(sys.argv[3]))  # 0: the policy every front end uses
sentences, tokens = [], 0
for sentence in read_corpus(sys.argv[2]):
    if tokens >= int(sys.argv[4]):
        break
    sentences.append(sentence.tokens)
    tokens += len(sentence.tokens)
best = float("inf")
for _ in range(3):
    started = time.perf_counter()
    tagger.predict(sentences)
    best = min(best, time.perf_counter() - started)
print(json.dumps({"seconds": best, "tokens": tokens, "threads": torch.get_num_threads()}))
"""

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
SETTINGS = {  # name -> (training.threads, extra environment)
    "one per core (torch's default)": (CORES, {}),
    "1 thread": (1, {}),
    "one per core, passive wait": (CORES, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "one per idle core (threads = 0)": (0, {}),
}


def environment(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")}
    return {**env, **extra}


def train_speed(config: str, threads: int, extra: dict[str, str], sentences: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        output = Path(directory) / "model"
        subprocess.run([sys.executable, "-m", "tagger", "train", config, "-o", str(output), "--set", "training.max_epochs=1",
                        "--set", f"data.max_train_sentences={sentences}", "--set", f"training.threads={threads}",
                        "--set", "training.max_minutes=0", "--set", 'data.dev=[]', "--set", 'data.test=[]'],
                       env=environment(extra), check=True, capture_output=True, text=True)
        epoch = json.loads((output / "metrics.jsonl").read_text().splitlines()[0])
    return float(epoch["tokens_per_second"])


def predict_time(model: str, corpus: str, threads: int, extra: dict[str, str], tokens: int) -> tuple[float, int, int]:
    done = subprocess.run([sys.executable, "-c", PREDICT, model, corpus, str(threads), str(tokens)],
                          env=environment(extra), check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["tokens"]), int(result["threads"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a trained model directory, for prediction")
    parser.add_argument("--config", required=True, help="a config, for training steps")
    parser.add_argument("--corpus", default=str(Path(os.environ.get("BIRNN_TAGGER_DATA", "../shared/corpora")) / "ud-en-ewt" / "en_ewt-ud-test.conllu"))
    parser.add_argument("--train-sentences", type=int, default=1000)
    parser.add_argument("--predict-tokens", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    rows = []
    for busy in (False, True):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            time.sleep(0.5 if busy else 0)
            for name, (threads, extra) in SETTINGS.items():
                speed = train_speed(args.config, threads, extra, args.train_sentences)
                seconds, tokens, used = predict_time(args.model, args.corpus, threads, extra, args.predict_tokens)
                rows.append({"machine": "one busy process beside" if busy else "quiet", "setting": name, "predict_threads": used,
                             "train_tokens_per_second": round(speed), "predict_seconds": round(seconds, 3), "predict_tokens": tokens})
                print(json.dumps(rows[-1]), file=sys.stderr)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    table = Table(title=f"threads on {os.cpu_count()} cores: training ({args.train_sentences} sentences) and predict ({args.predict_tokens} tokens)")
    for column in ("machine", "setting", "training tokens/s", "predict s", "predict threads"):
        table.add_column(column, justify="left" if column in ("machine", "setting") else "right")
    for row in rows:
        table.add_row(row["machine"], row["setting"], f"{row['train_tokens_per_second']:,}", f"{row['predict_seconds']:.3f}",
                      str(row["predict_threads"]))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
