"""PNG figures: the learning curve of a training run and a confusion matrix (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger.core.types import TaskScores


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(records: Sequence[dict[str, Any]], path: Path) -> None:
    """Training loss and each task's dev score (accuracy or F1, in percent as the CLI prints them)
    per epoch, the best epoch (the one saved) marked."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in records]
    best = max((r["epoch"] for r in records if r.get("best")), default=None)
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot(epochs, [r["train_loss"] for r in records], marker="o")
    loss_axis.set(title="training loss", xlabel="epoch")
    tasks = sorted({task for r in records for task in r.get("dev", {})})
    for task in tasks:
        values = [100 * TaskScores.from_dict(r["dev"][task]).headline if task in r.get("dev", {}) else None for r in records]
        kind = "F1" if "f1" in next(r["dev"][task] for r in records if task in r.get("dev", {})) else "accuracy"
        line, = score_axis.plot(epochs, values, marker="o", label=f"{task} ({kind})")
        if best is not None and values[epochs.index(best)] is not None:
            value = values[epochs.index(best)]
            score_axis.annotate(f"{value:.2f}", (best, value), textcoords="offset points", xytext=(4, 6), fontsize=8, color=line.get_color())
    for axis in (loss_axis, score_axis):
        if best is not None:
            axis.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best})" if axis is score_axis else None)
        axis.xaxis.get_major_locator().set_params(integer=True)
    score_axis.set(title="dev score", xlabel="epoch", ylabel="%")
    if tasks:
        score_axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path, title: str) -> None:
    """A row-normalised confusion matrix (gold rows, predicted columns) with counts."""
    plt = _pyplot()
    size = max(4.0, 0.45 * len(labels) + 2)
    figure, axis = plt.subplots(figsize=(size + 1.2, size))
    totals = [max(sum(row), 1) for row in matrix]
    normalised = [[value / total for value in row] for row, total in zip(matrix, totals)]
    from matplotlib.ticker import PercentFormatter

    image = axis.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, format=PercentFormatter(1.0), label="share of the gold row")
    axis.set_xticks(range(len(labels)), labels, rotation=90)
    axis.set_yticks(range(len(labels)), labels)
    axis.set(xlabel="predicted", ylabel="gold", title=f"{title} (numbers: tokens)")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                axis.text(j, i, str(value), ha="center", va="center", fontsize=7, color="white" if normalised[i][j] > 0.5 else "black")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
