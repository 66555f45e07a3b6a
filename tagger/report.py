"""``tagger evaluate --report``: per-label tables (TSV) and confusion-matrix PNGs per task."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from tagger.tasks import TaskSpec
from tagger.types import Prediction, Scores, Sentence


def write_report(directory: Path, gold: Sequence[Sentence], predicted: Sequence[Prediction], scores: Scores,
                 tasks: Mapping[str, TaskSpec]) -> None:
    from tagger.plots import plot_confusion

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scores.json").write_text(json.dumps({t: s.to_dict() for t, s in scores.items()}, indent=2), encoding="utf-8")
    for task, task_scores in scores.items():
        rows = ["label\tprecision\trecall\tf1\tsupport"]
        rows += [f"{label}\t{r['precision']:.4f}\t{r['recall']:.4f}\t{r['f1']:.4f}\t{r['support']:.0f}" for label, r in task_scores.per_label.items()]
        (directory / f"{task}_per_label.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        labels, matrix = confusion(gold, predicted, task, tasks[task])
        plot_confusion(matrix, labels, directory / f"{task}_confusion.png", f"{task}: token confusion")


def confusion(gold: Sequence[Sentence], predicted: Sequence[Prediction], task: str, spec: TaskSpec) -> tuple[list[str], list[list[int]]]:
    """Token-level confusion counts; span tasks compare entity types (prefixes dropped)."""
    counts: Counter[tuple[str, str]] = Counter()
    for g, p in zip(gold, predicted):
        if task not in g.tags:
            continue
        for a, b in zip(spec.to_bio(g.tags[task]), p.tags[task]):
            a, b = spec.label_of(a), spec.label_of(b)
            counts[(a or "O", b or "O") if spec.is_span else (a, b)] += 1
    labels = sorted({label for pair in counts for label in pair})
    return labels, [[counts[a, b] for b in labels] for a in labels]
