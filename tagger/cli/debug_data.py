"""``tagger debug-data``: the corpora of a config as training reads them, and what in them needs a look."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tagger.cli.common import app, console, fail, out, print_json
from tagger.core.errors import TaggerError

if TYPE_CHECKING:
    from tagger.training.debug_data import DataReport


@app.command("debug-data")
def debug_data(
    config: Annotated[Path, typer.Argument(help="A TOML config (see configs/).")],
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value, as for train: --set data.max_train_sentences=500")] = None,
    strict: Annotated[bool, typer.Option(help="Exit with status 1 when any warning fired (errors always do).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object of the report.")] = False,
) -> None:
    """Check a config's train, dev and test data before training (as spacy debug data does).

    Reads them as tagger train does and reports their sizes, label counts, span schemes and stray I- tags,
    labels unseen in train, unknown words, vector coverage, sentence lengths and duplicate sentences, then
    every warning together. Exits 1 on what would stop training, and with --strict on any warning.
    """
    from tagger.data.configs import load_config
    from tagger.training.debug_data import debug_data as analyse

    try:
        report = analyse(load_config(config, overrides or []), str(config))
    except TaggerError as error:
        fail(error)
    if as_json:
        print_json(report.to_dict())
    else:
        for table in _tables(report):
            out.print(table)
    for error in report.errors:
        console.print(f"[bold red]error:[/] {escape(error)}", emoji=False, highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", emoji=False, highlight=False)
    console.print(f"{len(report.errors)} errors, {len(report.warnings)} warnings", highlight=False)
    if report.errors or (strict and report.warnings):
        raise typer.Exit(code=1)


def _n(count: int) -> str:
    return f"{count:,}"


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _tables(report: DataReport) -> list[Table]:
    tables = [_splits_table(report)]
    for task, kind in report.tasks.items():
        tables.append(_labels_table(report, task, "labels" if kind == "token" else "entities"))
        if kind != "token":
            tables.append(_labels_table(report, task, f"tags ({kind})"))
    if report.schemes:
        tables.append(_schemes_table(report))
    if any(split.unseen for split in report.splits.values()):
        tables.append(_unseen_table(report))
    tables.append(_words_table(report))
    if report.vectors is not None:
        tables.append(_vectors_table(report))
    if report.overlaps:
        tables.append(_overlaps_table(report))
    return tables


def _splits_table(report: DataReport) -> Table:
    table = Table(title=f"data of {escape(report.config)}")
    for column in ("split", "sources", "sentences", "tokens", "min", "median", "p95", "max", f"> {report.long_sentence} tokens"):
        table.add_column(column, justify="left" if column in ("split", "sources") else "right")
    for name, split in report.splits.items():
        lengths = split.lengths
        cells = [_n(lengths.min), f"{lengths.median:g}", _n(lengths.p95), _n(lengths.max), _n(lengths.long)] if lengths else ["-"] * 5
        sentences = _n(split.sentences) + (f" ({_n(split.skipped)} skipped)" if split.skipped else "")
        table.add_row(name, Text(", ".join(split.sources)), sentences, _n(split.tokens), *cells)
    return table


def _labels_table(report: DataReport, task: str, what: str) -> Table:
    """A task's label counts per split: tags, or a span task's entities (spans) or tags."""
    tags = what.startswith("tags")
    counts = {name: (split.tasks[task].tags if tags else split.tasks[task].labels) for name, split in report.splits.items()}
    labels = list(dict.fromkeys(label for split_counts in counts.values() for label in split_counts))  # train's order first
    table = Table(title=f"{escape(task)}: {what}")
    table.add_column("label")
    for name in counts:
        table.add_column(name, justify="right")
    for label in labels:
        table.add_row(Text(label), *(_n(split_counts.get(label, 0)) for split_counts in counts.values()))
    table.add_row("sentences labelled", *(_n(split.tasks[task].sentences) for split in report.splits.values()), style="dim")
    return table


def _schemes_table(report: DataReport) -> Table:
    table = Table(title="span schemes")
    for column in ("split", "source", "task", "in the data", "trained in", "stray I-", "strict"):
        table.add_column(column, justify="right" if column == "stray I-" else "left")
    for check in report.schemes:
        table.add_row(check.split, Text(check.source), Text(check.task), check.detected, check.scheme, _n(check.stray),
                      "yes: an error" if check.strict and check.stray else ("yes" if check.strict else "no: repaired"))
    return table


def _unseen_table(report: DataReport) -> Table:
    table = Table(title="labels never seen in train")
    for column in ("split", "task", "label", "count"):
        table.add_column(column, justify="right" if column == "count" else "left")
    for name, split in report.splits.items():
        for task, labels in split.unseen.items():
            for label, count in labels.items():
                table.add_row(name, Text(task), Text(label), _n(count))
    return table


def _words_table(report: DataReport) -> Table:
    vocabulary = report.vocabulary
    settings = f"min_freq {vocabulary.min_freq}, {'lower-cased' if vocabulary.lowercase else 'cased'}"
    settings += f", max_words {_n(vocabulary.max_words)}" if vocabulary.max_words else ""
    settings += f", + {_n(vocabulary.max_vectors)} vectors' words" if vocabulary.max_vectors else ""
    table = Table(title=f"words: a vocabulary of {_n(vocabulary.words)} ({settings})")
    columns = ["split", "tokens", "forms", "OOV tokens", "OOV forms", "forms new to train"]
    if report.vectors is not None:
        columns += ["new reached by vectors", "tokens with a vector"]
    columns.append("frequent OOV forms")
    for column in columns:
        table.add_column(column, justify="left" if column in ("split", "frequent OOV forms") else "right")
    for name, split in report.splits.items():
        words = split.words
        new = "-" if name == "train" else f"{_n(words.new_forms)} ({_share(words.new_forms, words.forms)})"
        cells = [name, _n(words.tokens), _n(words.forms), f"{_n(words.oov_tokens)} ({_share(words.oov_tokens, words.tokens)})",
                 f"{_n(words.oov_forms)} ({_share(words.oov_forms, words.forms)})", new]
        if report.vectors is not None:
            cells += ["-" if name == "train" else _share(words.new_forms_with_vector, words.new_forms), _share(words.vector_tokens, words.tokens)]
        cells.append(Text(" ".join(words.oov_examples[:3])))
        table.add_row(*cells)
    table.caption = "OOV: mapped to <unk> (in train: rarer than min_freq, or past max_words)"
    return table


def _vectors_table(report: DataReport) -> Table:
    vectors = report.vectors
    assert vectors is not None
    table = Table(title="vectors", show_header=False)
    table.add_column("key")
    table.add_column("value", justify="right")
    table.add_row("source", Text(vectors.source))
    table.add_row("vectors", f"{_n(vectors.vectors)} x {vectors.dim}")
    table.add_row("vocabulary words with a vector", _n(vectors.words_with_vectors))
    table.add_row("training tokens reached", f"{100 * vectors.training_tokens:.1f}%")
    table.add_row("training forms reached", f"{100 * vectors.training_types:.1f}% of {_n(vectors.types)}")
    return table


def _overlaps_table(report: DataReport) -> Table:
    from tagger.training.debug_data import MIN_DUPLICATE_TOKENS, shorten

    table = Table(title="duplicate sentences")
    for column in ("sentences of", "also in", "sentences", f">= {MIN_DUPLICATE_TOKENS} tokens", "longest"):
        table.add_column(column, justify="right" if column in ("sentences", f">= {MIN_DUPLICATE_TOKENS} tokens") else "left")
    for overlap in report.overlaps:
        where = "train (repeats)" if overlap.first == overlap.second else overlap.first
        example = overlap.examples[0] if overlap.examples else ""
        example = shorten(example, 60)
        table.add_row(overlap.second, where, _n(overlap.sentences), _n(overlap.long), Text(example))
    return table
