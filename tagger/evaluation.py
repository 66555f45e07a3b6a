"""Scores: token accuracy for per-token tasks, seqeval entity P/R/F1 (BIO terms) for span tasks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Mapping, Sequence

from tagger.config import TaskConfig
from tagger.schemes import convert, span_labels, split_tag
from tagger.types import NO_LABEL, Prediction, Scores, Sentence, TaskScores


def score(gold: Sequence[Sentence], predicted: Sequence[Prediction], tasks: Mapping[str, TaskConfig]) -> Scores:
    """Compare gold sentences with predictions, per task; tasks no gold sentence has are skipped."""
    scores: Scores = {}
    for task, config in tasks.items():
        pairs = [(g.tags[task], p.tags[task]) for g, p in zip(gold, predicted) if task in g.tags]
        if not pairs:
            continue
        if config.scheme:
            gold_bio = [convert(g, config.scheme, "BIO") for g, _ in pairs]  # type: ignore[arg-type]
            scores[task] = span_scores(gold_bio, [p for _, p in pairs])
        else:
            scores[task] = accuracy_scores([g for g, _ in pairs], [p for _, p in pairs])
    return scores


def unseen_labels(gold: Sequence[Sentence], known: Mapping[str, Container[str]], tasks: Mapping[str, TaskConfig]) -> str:
    """One line naming the gold labels of each task that ``known`` (the model's labels) lacks, with
    their counts, or "" when there are none. The model cannot predict them, so they count as errors."""
    parts = []
    for task, config in tasks.items():
        labels = set(known.get(task, ()))
        if config.scheme:  # entity types, whatever the scheme of the file
            labels = set(span_labels(labels))
        counts: Counter[str] = Counter()
        for sentence in gold:
            for tag in sentence.tags.get(task) or ():
                label = split_tag(tag)[1] if config.scheme else tag
                if label not in labels and label != NO_LABEL:
                    counts[label] += 1
        if counts:
            parts.append(f"{task}: " + ", ".join(f"{label} x{n}" for label, n in counts.most_common()))
    return f"labels the model never saw in training (scored as errors): {'; '.join(parts)}" if parts else ""


def accuracy_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> TaskScores:
    true_positive: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    predicted_count: Counter[str] = Counter()
    for gold_tags, predicted_tags in zip(gold, predicted):
        for g, p in zip(gold_tags, predicted_tags):
            if g == NO_LABEL:
                continue
            gold_count[g] += 1
            predicted_count[p] += 1
            true_positive[g] += g == p
    total = sum(gold_count.values())
    per_label = {label: _prf(true_positive[label], predicted_count[label], gold_count[label]) for label in sorted(gold_count | predicted_count)}
    accuracy = sum(true_positive.values()) / total if total else 0.0
    return TaskScores("accuracy", {"accuracy": accuracy, "tokens": float(total)}, per_label)


def span_scores(gold: list[list[str]], predicted: list[list[str]]) -> TaskScores:
    from seqeval.metrics import classification_report

    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_label = {
        label: {"precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1-score"]), "support": float(row["support"])}
        for label, row in report.items()
        if not label.endswith("avg")
    }
    overall = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    metrics = {name: float(overall[key]) for name, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"), ("support", "support"))}
    return TaskScores("spans", metrics, per_label)


def _prf(true_positive: int, predicted: int, gold: int) -> dict[str, float]:
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(gold)}


def main_score(scores: Scores, tasks: Sequence[str] = ()) -> float:
    """One number to pick the best epoch: the mean headline metric of ``tasks`` (all when empty)."""
    chosen = [s.main for task, s in scores.items() if not tasks or task in tasks]
    return sum(chosen) / len(chosen) if chosen else 0.0
