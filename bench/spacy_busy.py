"""The spaCy component on a quiet and on a busy machine: nlp.pipe, nlp() and ``spacy evaluate``.

    python bench/spacy_busy.py --model models/uner-en-ewt-ner

A pipeline (``spacy.blank`` + ``birnn_tagger`` with the model, saved by ``nlp.to_disk``) is run in
a fresh process per measurement, with three settings of the component's ``threads``:

- ``threads = 0``, the default: one torch thread per core that is idle or busy with this process,
  looked at again about once a second as the machine's load changes
  (``tagger.core.runtime.ThreadPolicy``);
- ``threads = N`` (N = this machine's cores): torch's default, the component's old behaviour;
- ``threads = 1``: one core's speed, the ceiling of any setting when another process takes the other
  core of a 2-core machine.

Each on a quiet machine, beside one busy process (a pure-Python loop keeping one core busy, started
before the pipeline loads), and, for nlp.pipe and nlp(), beside one that starts after the pipeline
has loaded and labelled its warm-up (the case a choice made once at load cannot see). Rows:

- ``nlp.pipe``: the raw text of ``--docs`` test sentences, spaCy's default batch size; best of
  ``--repeats`` passes after a warm-up;
- ``nlp() x --calls``: one call per sentence, best of ``--repeats``;
- ``spacy evaluate``: ``python -m spacy evaluate`` on a .spacy file of the same ``--docs``
  sentences with their gold labels; the words/s it reports (``speed``), best of ``--repeats`` runs.

The goal: with ``threads = 0``, busy within 1.5x of quiet (busy/quiet at least 0.67).
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

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
SPIN = "while True: pass"
# The default, the old behaviour, and one thread: what one core gives, the most any setting can get beside a process that takes the other.
SETTINGS = {"0 (default)": 0, f"{CORES} (old: torch's default)": CORES, **({"1 (one core)": 1} if CORES > 1 else {})}
MACHINES = ("quiet", "busy", "busy after load")

IN_PROCESS = """
import json, subprocess, sys, time
import spacy, torch
pipeline, texts_file, mode, repeats, calls, busy_after_load = sys.argv[1:7]
texts = json.loads(open(texts_file, encoding="utf-8").read())
if mode == "call":
    texts = texts[: int(calls)]
nlp = spacy.load(pipeline)
list(nlp.pipe(texts[:20]))  # warm-up
spinner = None
if busy_after_load == "1":
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
best, words = float("inf"), 0
try:
    for _ in range(int(repeats)):
        started = time.perf_counter()
        docs = list(nlp.pipe(texts)) if mode == "pipe" else [nlp(text) for text in texts]
        best = min(best, time.perf_counter() - started)
        words = sum(1 for doc in docs for token in doc if not token.is_space)
finally:
    if spinner is not None:
        spinner.kill()
        spinner.wait()
print(json.dumps({"seconds": best, "words": words, "threads": torch.get_num_threads()}))
"""


def environment() -> dict[str, str]:
    """This environment without the thread settings (OMP_NUM_THREADS and friends): torch decides, or the component does."""
    return {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS")}


def build(model: str, corpus: Path, docs: int, scratch: Path) -> tuple[dict[int, Path], Path, Path, int]:
    """Pipelines (one per threads setting), the texts as JSON, the .spacy file of the same sentences; their words."""
    import spacy
    from spacy.tokens import Doc, DocBin, Span

    from tagger.core.schemes import tags_to_spans
    from tagger.data.doc_targets import default_targets
    from tagger.data.readers import read_corpus
    from tagger.model.predict import Tagger

    tagger = Tagger.load(model)
    targets = default_targets(tagger.task_specs)
    pipelines = {}
    for threads in set(SETTINGS.values()):
        nlp = spacy.blank(tagger.info.config.lang)
        nlp.add_pipe("birnn_tagger", config={"model": str(Path(model).resolve()), "threads": threads})
        pipelines[threads] = scratch / f"pipeline-threads-{threads}"
        nlp.to_disk(pipelines[threads])
    vocab = spacy.blank(tagger.info.config.lang).vocab
    texts, gold, words = [], DocBin(), 0
    for sentence in read_corpus(corpus):
        if len(texts) >= docs:
            break
        texts.append(sentence.text or " ".join(sentence.tokens))
        doc = Doc(vocab, words=sentence.tokens, spaces=[True] * (len(sentence.tokens) - 1) + [False])
        for task, tags in sentence.tags.items():
            target = targets.get(task)
            if target is None or task not in tagger.task_specs:
                continue
            if target.kind == "ents":
                doc.ents = [Span(doc, s.start, s.end, label=s.label) for s in tags_to_spans(tags, "BIO")]
            elif target.kind in ("pos", "tag"):
                for token, tag in zip(doc, tags):
                    setattr(token, f"{target.kind}_", tag)
        gold.add(doc)
        words += len(sentence.tokens)
    (scratch / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    gold.to_disk(scratch / "gold.spacy")
    return pipelines, scratch / "texts.json", scratch / "gold.spacy", words


def in_process(pipeline: Path, texts: Path, mode: str, repeats: int, calls: int, busy_after_load: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(pipeline), str(texts), mode, str(repeats), str(calls), str(int(busy_after_load))],
                          env=environment(), check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"words_per_second": result["words"] / result["seconds"], "threads": result["threads"]}


def evaluate(pipeline: Path, gold: Path, repeats: int, scratch: Path) -> dict:
    best = 0.0
    for _ in range(repeats):
        output = scratch / "metrics.json"
        subprocess.run([sys.executable, "-m", "spacy", "evaluate", str(pipeline), str(gold), "--output", str(output)],
                       env=environment(), check=True, capture_output=True, text=True)
        best = max(best, float(json.loads(output.read_text())["speed"]))
    return {"words_per_second": best, "threads": None}


class Busy:
    """One process keeping a core busy while the block runs (none when ``busy`` is false)."""

    def __init__(self, busy: bool) -> None:
        self.busy = busy

    def __enter__(self) -> Busy:
        self.spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if self.busy else None
        time.sleep(0.5 if self.busy else 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.spinner is not None:
            self.spinner.kill()
            self.spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/uner-en-ewt-ner", help="a trained model directory")
    parser.add_argument("--corpus", default=str(Path(os.environ.get("BIRNN_TAGGER_DATA", "../shared/corpora")) / "uner-en-ewt" / "en_ewt-ud-test.iob2"),
                        help="test sentences with gold labels for the model's tasks (default UNER English-EWT test)")
    parser.add_argument("--docs", type=int, default=500, help="sentences for nlp.pipe and spacy evaluate")
    parser.add_argument("--calls", type=int, default=200, help="nlp() calls, one sentence each")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many passes (spacy evaluate: runs)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        pipelines, texts, gold, words = build(args.model, Path(args.corpus), args.docs, scratch)
        runs = {"nlp.pipe": "pipe", f"nlp() x {args.calls}": "call", "spacy evaluate": "evaluate"}
        for run, mode in runs.items():
            for setting, threads in SETTINGS.items():
                row = {"run": run, "setting": setting}
                for machine in MACHINES:
                    if mode == "evaluate" and machine == "busy after load":
                        continue
                    with Busy(machine == "busy"):
                        if mode == "evaluate":
                            result = evaluate(pipelines[threads], gold, args.repeats, scratch)
                        else:
                            result = in_process(pipelines[threads], texts, mode, args.repeats, args.calls, machine == "busy after load")
                    row[machine] = result
                    print(json.dumps({"run": run, "setting": setting, "machine": machine, **result}), file=sys.stderr)
                rows.append(row)

    table = Table(title=f"birnn_tagger in spaCy, {args.model}: {args.docs:,} sentences ({words:,} words) of {Path(args.corpus).name}, "
                        f"{CORES} cores, best of {args.repeats}; busy = one process spinning on a core")
    for column in ("run", "threads", "quiet words/s", "busy words/s", "busy/quiet", "busy after load words/s", "after load/quiet", "torch threads"):
        table.add_column(column, justify="left" if column in ("run", "threads") else "right")
    for row in rows:
        quiet = row["quiet"]["words_per_second"]
        after = row.get("busy after load")
        used = " / ".join(str(row[m]["threads"]) for m in MACHINES if m in row and row[m]["threads"] is not None)
        table.add_row(row["run"], row["setting"], f"{quiet:,.0f}", f"{row['busy']['words_per_second']:,.0f}",
                      f"{row['busy']['words_per_second'] / quiet:.2f}",
                      f"{after['words_per_second']:,.0f}" if after else "-", f"{after['words_per_second'] / quiet:.2f}" if after else "-",
                      used or "-")
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # a file or pipe: one line per row
    console.print(table)
    console.print("torch threads: at the end of the quiet / busy / busy-after-load runs. Goal: threads = 0 keeps busy/quiet at 0.67 or more (within 1.5x).")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
