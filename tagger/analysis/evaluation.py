"""Scores: token accuracy for token tasks, seqeval entity P/R/F1 (BIO terms) for span tasks, and
accuracy and perplexity of masked-token prediction. :func:`evaluate` is the one way a model is
scored on labelled sentences: by training (dev and test), pretraining and ``tagger evaluate``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tagger.core.batching import MASKED_LM
from tagger.core.tasks import TaskSpec
from tagger.core.types import NO_LABEL, Prediction, Scores, Sentence, TaskScores

if TYPE_CHECKING:
    from tagger.core.config import MaskedLMConfig
    from tagger.model.predict import Tagger


def evaluate(tagger: Tagger, sentences: Sequence[Sentence], batch_size: int | None = None, masking: MaskedLMConfig | None = None) -> Scores:
    """Label ``sentences`` (their labels unseen) and score each task the gold sentences have; with
    ``masking`` (a model with a masked-token head) also masked-token prediction, as ``masked_lm``."""
    return label_and_score(tagger, sentences, batch_size, masking)[1]


def label_and_score(tagger: Tagger, sentences: Sequence[Sentence], batch_size: int | None = None,
                    masking: MaskedLMConfig | None = None) -> tuple[list[Prediction], Scores]:
    """:func:`evaluate`, with the predictions (for error analysis)."""
    predictions = list(tagger.predict_sentences([s.unlabelled() for s in sentences], batch_size)) if tagger.task_specs else []
    scores = score(sentences, predictions, tagger.task_specs)
    if masking is not None and (masked := tagger.masked_token_scores(sentences, masking)):
        scores[MASKED_LM] = TaskScores("accuracy", masked)
    return predictions, scores


@dataclass
class CorpusEvaluation:
    """One corpus scored by ``tagger evaluate``: the gold sentences, the predictions, the scores and how long labelling took."""

    corpus: str
    gold: list[Sentence]
    predictions: list[Prediction]
    scores: Scores
    seconds: float

    @property
    def words(self) -> int:
        return sum(len(sentence.tokens) for sentence in self.gold)

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Scores with every task's per-label rows (token tasks too), and the speed."""
        return {"sentences": len(self.gold), "words": self.words, "seconds": round(self.seconds, 3),
                "words_per_second": round(self.words_per_second, 1),
                "scores": {task: {**s.to_dict(), "per_label": s.per_label} for task, s in self.scores.items()}}


def evaluate_corpus(tagger: Tagger, corpus: str, fmt: str | None = None) -> CorpusEvaluation:
    """Read ``corpus`` (a labelled file or ``name:split``, its columns mapped to tasks as at
    training), label and score it; the time counts labelling alone, not reading or scoring."""
    from tagger.core.errors import TaggerError
    from tagger.data import load_corpus

    gold = load_corpus(corpus, fmt, tagger.config)
    if not any(task in sentence.tags for sentence in gold for task in tagger.tasks):
        raise TaggerError(f"{corpus} has labels for none of the model's tasks ({', '.join(tagger.tasks)})")
    started = time.perf_counter()
    predictions = list(tagger.predict_sentences([s.unlabelled() for s in gold]))
    seconds = time.perf_counter() - started
    return CorpusEvaluation(corpus, gold, predictions, score(gold, predictions, tagger.task_specs), seconds)


def score(gold: Sequence[Sentence], predicted: Sequence[Prediction], tasks: Mapping[str, TaskSpec]) -> Scores:
    """Compare gold sentences with predictions, per task; tasks no gold sentence has are skipped."""
    scores: Scores = {}
    for task, spec in tasks.items():
        pairs = [(g.tags[task], p.tags[task]) for g, p in zip(gold, predicted) if task in g.tags]
        if not pairs:
            continue
        if spec.is_span:
            scores[task] = span_scores([spec.to_bio(g) for g, _ in pairs], [p for _, p in pairs])
        else:
            scores[task] = accuracy_scores([g for g, _ in pairs], [p for _, p in pairs])
    return scores


def unseen_label_counts(gold: Sequence[Sentence], tasks: Mapping[str, TaskSpec]) -> dict[str, dict[str, int]]:
    """Per task, the gold labels (entity types for span tasks, whatever the scheme of the file) that
    the model's labels lack, with their counts, most frequent first."""
    unseen = {}
    for task, spec in tasks.items():
        known = set(spec.span_labels)
        counts = Counter(label for sentence in gold for tag in sentence.tags.get(task) or ()
                         if (label := spec.label_of(tag)) not in known and label != NO_LABEL)
        if counts:
            unseen[task] = dict(counts.most_common())
    return unseen


def unseen_labels(gold: Sequence[Sentence], tasks: Mapping[str, TaskSpec]) -> str:
    """One line naming :func:`unseen_label_counts`, or "" when there are none. The model cannot
    predict those labels, so they count as errors."""
    parts = [f"{task}: " + ", ".join(f"{label} x{n}" for label, n in counts.items()) for task, counts in unseen_label_counts(gold, tasks).items()]
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


def selection_score(scores: Scores, tasks: Sequence[str] = ()) -> float:
    """One number to pick the best epoch: the mean headline metric of ``tasks`` (all when empty)."""
    chosen = [s.headline for task, s in scores.items() if not tasks or task in tasks]
    return sum(chosen) / len(chosen) if chosen else 0.0
