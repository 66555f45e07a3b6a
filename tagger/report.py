"""``tagger evaluate --report``: per-label tables (TSV) and confusion-matrix PNGs per task."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from tagger.config import TaskConfig
from tagger.schemes import convert, split_tag
from tagger.types import Prediction, Scores, Sentence


def write_report(directory: Path, gold: Sequence[Sentence], predicted: Sequence[Prediction], scores: Scores,
                 tasks: Mapping[str, TaskConfig]) -> None:
    from tagger.plots import plot_confusion

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scores.json").write_text(json.dumps({t: s.to_dict() for t, s in scores.items()}, indent=2), encoding="utf-8")
    for task, task_scores in scores.items():
        rows = ["label\tprecision\trecall\tf1\tsupport"]
        rows += [f"{label}\t{r['precision']:.4f}\t{r['recall']:.4f}\t{r['f1']:.4f}\t{r['support']:.0f}" for label, r in task_scores.per_label.items()]
        (directory / f"{task}_per_label.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        labels, matrix = confusion(gold, predicted, task, tasks[task])
        plot_confusion(matrix, labels, directory / f"{task}_confusion.png", f"{task}: token confusion")


def confusion(gold: Sequence[Sentence], predicted: Sequence[Prediction], task: str, config: TaskConfig) -> tuple[list[str], list[list[int]]]:
    """Token-level confusion counts; span tasks compare entity types (prefixes dropped)."""
    counts: Counter[tuple[str, str]] = Counter()
    for g, p in zip(gold, predicted):
        if task not in g.tags:
            continue
        gold_tags = convert(g.tags[task], config.scheme, "BIO") if config.scheme else g.tags[task]  # type: ignore[arg-type]
        for a, b in zip(gold_tags, p.tags[task]):
            if config.scheme:
                a, b = split_tag(a)[1] or "O", split_tag(b)[1] or "O"
            counts[a, b] += 1
    labels = sorted({label for pair in counts for label in pair})
    return labels, [[counts[a, b] for b in labels] for a in labels]
