"""Single models against their ensemble, and a distilled model: dev and test scores, and labelling speed.

    python bench/ensemble.py --members DIR/seed-13 DIR/seed-14 DIR/seed-15 [--distilled D/seed-13 D/seed-14 ...]

Dev and test are the corpora the first member's config names (``data.dev``, ``data.test``).

Rows: each member alone, their mean ± sd, the ensemble with CRF tasks combined by mean emissions and
transitions (``emissions``) and by mean marginals (``marginals``), and each distilled model with their
mean ± sd. Scores are each task's headline (entity F1, accuracy) through ``evaluate``. Speed: words/s of
``Tagger.label_sentences`` over the test sentences (pre-tokenized, batches of the default size), the
best of ``--repeats`` passes after a warm-up, with ``--threads`` torch threads. Run it alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from tagger.analysis.evaluation import evaluate
from tagger.core.runtime import RunOptions
from tagger.data import load_sentences
from tagger.model.predict import Tagger
from tagger.model.serialize import ensemble_of


def words_per_second(tagger: Tagger, sentences: list, repeats: int) -> float:
    words = sum(len(s) for s in sentences)
    plain = [s.unlabelled() for s in sentences]
    tagger.label_sentences(plain[:200])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tagger.label_sentences(plain)
        best = min(best, time.perf_counter() - start)
    return words / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", nargs="+", type=Path, required=True)
    parser.add_argument("--distilled", nargs="*", type=Path, default=[])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    run = RunOptions(threads=args.threads)
    first = Tagger.load(args.members[0], run)
    tasks = first.config.tasks
    dev, test = load_sentences(first.config.data.dev, tasks), load_sentences(first.config.data.test, tasks)
    rows: list[tuple[str, dict[str, float], dict[str, float], float | None]] = []

    def score(name: str, tagger: Tagger, speed: bool) -> None:
        headline = {split: {t: 100 * s.headline for t, s in evaluate(tagger, sentences).items()} for split, sentences in (("dev", dev), ("test", test))}
        rows.append((name, headline["dev"], headline["test"], words_per_second(tagger, test, args.repeats) if speed else None))

    def spread(name: str, group: list[tuple[str, dict[str, float], dict[str, float], float | None]]) -> None:
        means = []
        for split in (1, 2):
            means.append({t: (statistics.fmean(r[split][t] for r in group), statistics.stdev(r[split][t] for r in group) if len(group) > 1 else 0.0)
                          for t in group[0][split]})
        rows.append((name, *means, None))  # type: ignore[arg-type]

    for number, member in enumerate(args.members):
        score(f"single: {member}", Tagger.load(member, run), speed=number == 0)
    spread("single: mean ± sd", rows[-len(args.members):])
    for crf in ("emissions", "marginals"):
        tagger = Tagger.from_loaded(ensemble_of(list(args.members), crf), "ensemble", run)
        score(f"ensemble of {len(args.members)}, CRF by mean {crf}", tagger, speed=True)
    for distilled in args.distilled:
        score(f"distilled: {distilled}", Tagger.load(distilled, run), speed=False)
    if len(args.distilled) > 1:
        spread("distilled: mean ± sd", rows[-len(args.distilled):])

    table = Table(title=f"single models, their ensemble, distilled models ({args.threads} threads)")
    table.add_column("model")
    for split in ("dev", "test"):
        for task in tasks:
            table.add_column(f"{split} {task}", justify="right")
    table.add_column("words/s", justify="right")
    for name, dev_scores, test_scores, speed in rows:
        cells = []
        for found in (dev_scores, test_scores):
            for task in tasks:
                value = found.get(task)
                cells.append("-" if value is None else f"{value[0]:.2f} ± {value[1]:.2f}" if isinstance(value, tuple) else f"{value:.2f}")
        table.add_row(name, *cells, f"{speed:,.0f}" if speed else "")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
