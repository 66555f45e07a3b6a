"""``tagger evaluate``: score a model on labelled corpora."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import app, console, fail, out, print_json, scores_table
from tagger.cli.options import declared, run_options
from tagger.core.errors import TaggerError, writing
from tagger.core.runtime import RunOptions
from tagger.files.outputs import Output, claim

if TYPE_CHECKING:
    from tagger.analysis.evaluation import CorpusEvaluation


FAILED_WRITE = "Files written for the corpora before it stay: free some space and evaluate again with --overwrite."


@app.command()
@declared(RunOptions)
def evaluate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    corpora: Annotated[list[str], typer.Argument(metavar="CORPUS", help="Labelled files or catalogue corpora such as ud-en-ewt:test; several give a table each and a summary.")],
    fmt: Annotated[Optional[str], typer.Option("--format", help="conllu, conll, iob2, jsonl or spacy; default from the extension.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: per corpus, scores (with per-label rows) and speed.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write per-label TSVs, confusion-matrix PNGs and report.md (the most frequent confusions, with examples) here; with several corpora, a folder per corpus.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the predictions beside the gold labels here: .jsonl, or .conll/.tsv columns; with several corpora, one file per corpus (NAME.CORPUS.jsonl).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file or --report folder.")] = False,
    **run_flags: Any,
) -> None:
    """Score a model on labelled corpora: scores, per-label tables and labelling speed."""
    from tagger.analysis.evaluation import evaluate_corpus, unseen_labels
    from tagger.analysis.report import write_comparison, write_report
    from tagger.model.predict import Tagger

    names = _file_names(corpora)
    outputs = {corpus: _beside(output, name) if len(corpora) > 1 else output for corpus, name in names.items()} if output else {}
    try:
        with claim(_destinations(corpora, report, outputs), [*corpora, model], overwrite):
            run = run_options(run_flags)
            tagger = Tagger.load(model, run)
            evaluations = [evaluate_corpus(tagger, corpus, fmt) for corpus in corpora]
            for evaluation in evaluations:  # written once every corpus has been scored: a bad one leaves nothing half done
                corpus = evaluation.corpus
                unseen = unseen_labels(evaluation.gold, tagger.task_specs)
                if unseen:
                    console.print(f"[yellow]warning[/]: {escape(corpus)}: {escape(unseen)}", highlight=False)
                with writing(report or outputs.get(corpus, ""), FAILED_WRITE):
                    if report:
                        write_report(report / names[corpus] if len(corpora) > 1 else report, evaluation, tagger.task_specs)
                    if corpus in outputs:
                        write_comparison(outputs[corpus], evaluation, tagger.task_specs)
    except TaggerError as error:
        fail(error)
    if as_json:
        print_json({e.corpus: e.to_dict() for e in evaluations})
        return
    for evaluation in evaluations:
        _print_evaluation(evaluation)
    if len(evaluations) > 1:
        out.print(_summary(evaluations))
    for written, what in ((report, "report"), *((path, "predictions") for path in outputs.values())):
        if written:
            out.print(f"{what} written to {escape(str(written))}", highlight=False)


def _print_evaluation(evaluation: CorpusEvaluation) -> None:
    speed = f"{len(evaluation.gold):,} sentences, {evaluation.words:,} words in {evaluation.seconds:.2f} s: {evaluation.words_per_second:,.0f} words/s"
    table = scores_table(evaluation.corpus, evaluation.scores)
    table.caption = speed
    out.print(table)
    for task, task_scores in evaluation.scores.items():
        table = Table(title=f"{escape(task)} per label")
        for column in ("label", "precision", "recall", "f1", "support"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for label, row in task_scores.per_label.items():
            table.add_row(escape(label), *(f"{100 * row[m]:.2f}" for m in ("precision", "recall", "f1")), f"{row['support']:,.0f}")
        out.print(table)


def _summary(evaluations: list[CorpusEvaluation]) -> Table:
    table = Table(title="summary")
    for column in ("corpus", "task", "metric", "score", "words", "words/s"):
        table.add_column(column, justify="left" if column in ("corpus", "task", "metric") else "right")
    for evaluation in evaluations:
        for task, task_scores in evaluation.scores.items():
            metric = "f1" if task_scores.kind == "spans" else "accuracy"
            table.add_row(escape(evaluation.corpus), escape(task), metric, f"{100 * task_scores.headline:.2f}", f"{evaluation.words:,}", f"{evaluation.words_per_second:,.0f}")
    return table


def _destinations(corpora: list[str], report: Path | None, outputs: dict[str, Path]) -> list[Output]:
    """The files and folders this run writes, once each corpus is known to be given once and each
    --output to have a known format."""
    from tagger.analysis.report import comparison_format, is_report

    seen: dict[str, str] = {}
    for corpus in corpora:
        key = str(Path(corpus).resolve()) if Path(corpus).exists() else corpus
        if key in seen:
            raise TaggerError(f"{corpus} is given twice (as {seen[key]} before); give each corpus once")
        seen[key] = corpus
    for path in outputs.values():
        comparison_format(path)
    return [*([Output(report, "--report", folder=True, written_by_us=is_report)] if report else []),
            *(Output(path, "--output") for path in outputs.values())]


def _file_names(corpora: list[str]) -> dict[str, str]:
    """A distinct file-name-safe name per corpus: ``ud-en-ewt:test`` -> ``ud-en-ewt-test``, a path -> its stem."""
    names: dict[str, str] = {}
    for corpus in corpora:
        base = re.sub(r"[^\w.-]+", "-", Path(corpus).stem if Path(corpus).suffix else corpus).strip("-") or "corpus"
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}-{n}", n + 1
        names[corpus] = name
    return names


def _beside(path: Path, name: str) -> Path:
    """``pred.jsonl`` -> ``pred.NAME.jsonl``."""
    return path.with_name(f"{path.stem}.{name}{path.suffix}")
