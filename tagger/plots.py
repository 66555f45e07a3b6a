"""PNG figures: the learning curve of a training run and a confusion matrix (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger.types import TaskScores


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(records: Sequence[dict[str, Any]], path: Path) -> None:
    """Training loss and each task's dev metric per epoch."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in records]
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, [r["train_loss"] for r in records], marker="o")
    loss_axis.set(title="training loss", xlabel="epoch")
    tasks = sorted({task for r in records for task in r.get("dev", {})})
    for task in tasks:
        values = [TaskScores.from_dict(r["dev"][task]).main if task in r.get("dev", {}) else None for r in records]
        score_axis.plot(epochs, values, marker="o", label=task)
    score_axis.set(title="dev score (accuracy or F1)", xlabel="epoch")
    if tasks:
        score_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> None:
    """A row-normalised confusion matrix (gold rows, predicted columns) with counts."""
    plt = _pyplot()
    size = max(4.0, 0.45 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    totals = [max(sum(row), 1) for row in matrix]
    normalised = [[value / total for value in row] for row, total in zip(matrix, totals)]
    axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=90)
    axis.set_yticks(range(len(labels)), labels)
    axis.set(xlabel="predicted", ylabel="gold", title=title)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                axis.text(j, i, str(value), ha="center", va="center", fontsize=7, color="white" if normalised[i][j] > 0.5 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
