"""Error analysis for ``tagger evaluate``: per-label tables (TSV), confusion-matrix PNGs and the most
frequent confusions with example sentences (Markdown) per task, and the predictions beside the gold
labels (JSONL or columns)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tagger.analysis.evaluation import CorpusEvaluation
from tagger.core.errors import TaggerError
from tagger.core.tasks import TaskSpec
from tagger.core.types import NO_LABEL, Prediction, Sentence
from tagger.data.formats import format_of, known_suffixes

TOP_CONFUSIONS = 10  # rows of the Markdown table per task
EXAMPLES = 3  # example sentences per confusion
CONTEXT = 8  # tokens shown either side of a confused token
COMPARISON_FORMATS = ("jsonl", "conll")  # what evaluate --output writes: predictions beside the gold labels


def is_report(directory: Path) -> bool:
    """Whether ``directory`` holds a report :func:`write_report` wrote (or one per corpus), and nothing else
    of note: what ``evaluate --report --overwrite`` may replace."""
    entries = [entry for entry in directory.iterdir() if not entry.name.startswith(".")]
    return (directory / "scores.json").is_file() or bool(entries) and all((entry / "scores.json").is_file() for entry in entries)


def write_report(directory: Path, evaluation: CorpusEvaluation, tasks: Mapping[str, TaskSpec]) -> None:
    """``scores.json``, and per task ``TASK_per_label.tsv``, ``TASK_confusion.png``; ``report.md`` ties them
    together. The folder is written whole or not at all (:func:`tagger.files.atomic.atomic_folder`)."""
    from tagger.files.atomic import atomic_folder

    with atomic_folder(directory) as partial:
        _write_report(partial, evaluation, tasks)


def _write_report(directory: Path, evaluation: CorpusEvaluation, tasks: Mapping[str, TaskSpec]) -> None:
    from tagger.analysis.plots import plot_confusion

    gold, predicted = evaluation.gold, evaluation.predictions
    (directory / "scores.json").write_text(json.dumps(evaluation.to_dict()["scores"], indent=2), encoding="utf-8")
    for task, task_scores in evaluation.scores.items():
        rows = ["label\tprecision\trecall\tf1\tsupport"]
        rows += [f"{label}\t{r['precision']:.4f}\t{r['recall']:.4f}\t{r['f1']:.4f}\t{r['support']:.0f}" for label, r in task_scores.per_label.items()]
        (directory / f"{task}_per_label.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        labels, matrix = confusion(gold, predicted, task, tasks[task])
        plot_confusion(matrix, labels, directory / f"{task}_confusion.png", f"{task}: token confusion")
    (directory / "report.md").write_text(confusions_markdown(evaluation, tasks), encoding="utf-8")


def token_pairs(gold: Sequence[Sentence], predicted: Sequence[Prediction], task: str, spec: TaskSpec) -> Iterator[tuple[int, int, str, str]]:
    """(sentence, token, gold label, predicted label) for every scored token; span tasks compare
    entity types (prefixes dropped, ``O`` outside entities)."""
    for s, (g, p) in enumerate(zip(gold, predicted)):
        if task not in g.tags:
            continue
        for t, (a, b) in enumerate(zip(spec.to_bio(g.tags[task]), p.tags[task])):
            if a == NO_LABEL:
                continue
            a, b = spec.label_of(a), spec.label_of(b)
            yield (s, t, a or "O", b or "O") if spec.is_span else (s, t, a, b)


def confusion(gold: Sequence[Sentence], predicted: Sequence[Prediction], task: str, spec: TaskSpec) -> tuple[list[str], list[list[int]]]:
    """Token-level confusion counts (gold rows, predicted columns)."""
    counts = Counter((a, b) for _, _, a, b in token_pairs(gold, predicted, task, spec))
    labels = sorted({label for pair in counts for label in pair})
    return labels, [[counts[a, b] for b in labels] for a in labels]


def confusions_markdown(evaluation: CorpusEvaluation, tasks: Mapping[str, TaskSpec]) -> str:
    """The most frequent confusions of each task, each with a few example sentences, gold against predicted."""
    lines = [f"# Errors on {_md(evaluation.corpus)}", "",
             (f"{len(evaluation.gold):,} sentences, {evaluation.words:,} words. Per task: the most frequent confusions "
              "(token level; span tasks compare entity types, O outside entities), then example sentences."), ""]
    for task, task_scores in evaluation.scores.items():
        spec = tasks[task]
        pairs = list(token_pairs(evaluation.gold, evaluation.predictions, task, spec))
        gold_counts = Counter(a for _, _, a, _ in pairs)
        wrong: Counter[tuple[str, str]] = Counter()
        examples: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for s, t, a, b in pairs:
            if a != b:
                wrong[a, b] += 1
                places = examples.setdefault((a, b), [])
                if len(places) < EXAMPLES and all(s != known for known, _ in places):
                    places.append((s, t))
        metric = "F1" if spec.is_span else "accuracy"
        lines += [f"## {_md(task)}: {metric} {100 * task_scores.headline:.2f}", "",
                  f"{sum(wrong.values()):,} of {len(pairs):,} tokens wrong. ![{_md(task)} confusion matrix]({task}_confusion.png)", ""]
        if not wrong:
            lines += ["No confusions.", ""]
            continue
        lines += ["| gold | predicted | tokens | share of gold |", "| --- | --- | ---: | ---: |"]
        top = wrong.most_common(TOP_CONFUSIONS)
        lines += [f"| {_md(a)} | {_md(b)} | {n:,} | {100 * n / gold_counts[a]:.1f}% |" for (a, b), n in top]
        lines.append("")
        for (a, b), n in top:
            lines += [f"### {_md(a)} predicted as {_md(b)} ({n:,})", ""]
            for s, t in examples[a, b]:
                gold_sentence, prediction = evaluation.gold[s], evaluation.predictions[s]
                sent_id = str(gold_sentence.meta.get("sent_id", "")).replace("`", "")
                where = f"`{sent_id}`" if sent_id else f"sentence {s + 1}"
                if spec.is_span:
                    lines.append(f"- {where}, token {t + 1}:")
                    lines.append(f"  - gold: {_entities(gold_sentence.tokens, spec.to_bio(gold_sentence.tags[task]), t)}")
                    lines.append(f"  - predicted: {_entities(prediction.tokens, prediction.tags[task], t)}")
                else:
                    lines.append(f"- {where}: {_window(gold_sentence.tokens, t)}")
            lines.append("")
    return "\n".join(lines)


def _around(tokens: Sequence[str], focus: int) -> tuple[int, int]:
    """The token range shown around ``focus``."""
    return max(0, focus - CONTEXT), min(len(tokens), focus + CONTEXT + 1)


def _cut(words: list[str], start: int, end: int, length: int) -> str:
    return ("… " if start else "") + " ".join(words) + (" …" if end < length else "")


def _window(tokens: Sequence[str], focus: int) -> str:
    """The tokens around ``focus``, that one in bold."""
    start, end = _around(tokens, focus)
    return _cut([f"**{_md(w)}**" if i == focus else _md(w) for i, w in enumerate(tokens[start:end], start)], start, end, len(tokens))


def _entities(tokens: Sequence[str], bio: Sequence[str], focus: int) -> str:
    """The tokens around ``focus`` with each entity bracketed and labelled: ``[Maria Lopez]_PER_``; ``focus`` in bold."""
    start, end = _around(tokens, focus)
    out: list[str] = []
    label = ""
    for i in range(start, end):
        prefix, _, tag = bio[i].partition("-")
        if label and prefix != "I":
            out[-1] += f"]_{_md(label)}_"
            label = ""
        word = f"**{_md(tokens[i])}**" if i == focus else _md(tokens[i])
        if prefix in ("B", "I") and not label:
            word, label = "[" + word, tag
        out.append(word)
    if label:
        out[-1] += f"]_{_md(label)}_"
    return _cut(out, start, end, len(tokens))


def _md(text: str) -> str:
    """``text`` with the characters escaped that Markdown reads inside a line (a token like ``*``,
    ``_`` or ``|`` shows as itself, also in a table cell)."""
    return re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text)


def comparison_format(path: Path) -> str:
    """The format of an ``evaluate --output`` file, from its extension."""
    fmt = format_of(path)
    if fmt not in COMPARISON_FORMATS:
        raise TaggerError(f"--output {path}: it writes {known_suffixes(COMPARISON_FORMATS)}, not {path.suffix or '(no extension)'!r}")
    return fmt


def format_comparison(gold: Sentence, prediction: Prediction, tasks: Mapping[str, TaskSpec], fmt: str) -> str:
    """One sentence's predictions beside its gold labels (span tasks in BIO, as predicted).

    JSONL: the record ``tagger annotate`` writes plus ``gold`` (task -> labels, for the tasks the
    sentence has) and ``errors`` (task -> tokens wrong). Columns: the token, then gold and predicted
    label for every task of the model, as CoNLL's evaluation script reads them; ``_`` where the
    sentence has no gold label.
    """
    gold_tags = {task: spec.to_bio(gold.tags[task]) if spec.is_span else list(gold.tags[task])
                 for task, spec in tasks.items() if task in gold.tags}
    if fmt == "jsonl":
        record = {key: gold.meta[key] for key in ("sent_id", "source", "line") if key in gold.meta}
        record.update(prediction.to_dict())
        record["gold"] = gold_tags
        record["errors"] = {task: sum(g != p for g, p in zip(tags, prediction.tags[task]) if g != NO_LABEL) for task, tags in gold_tags.items()}
        return json.dumps(record, ensure_ascii=False) + "\n"
    rows = []
    for i, token in enumerate(prediction.tokens):
        columns = [token]
        for task in tasks:
            columns += [gold_tags[task][i] or "_" if task in gold_tags else "_", prediction.tags[task][i]]
        rows.append("\t".join(columns))
    return "\n".join(rows) + "\n\n"


def write_comparison(path: Path, evaluation: CorpusEvaluation, tasks: Mapping[str, TaskSpec]) -> None:
    """Every sentence of ``evaluation``, predictions beside gold, to ``path`` (written whole or not at all)."""
    from tagger.files.atomic import write_atomic

    fmt = comparison_format(path)
    write_atomic(path, "".join(format_comparison(g, p, tasks, fmt) for g, p in zip(evaluation.gold, evaluation.predictions)))
