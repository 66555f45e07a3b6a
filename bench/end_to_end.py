"""End to end from raw text: a model that carries its segmenter, labelling the test text it has never seen
split into words, against the same model on the gold words.

    export BIRNN_TAGGER_DATA=../shared/corpora
    python bench/end_to_end.py ../runs/languages/uner-zh-gsdsimp uner-zh-gsdsimp:test     # NER F1
    python bench/end_to_end.py ../runs/languages/ud-vi-vtb ud-vi-vtb:test --spacy          # UPOS; also through pyvi

Three rows per task: gold words (the corpus's tokens, as `tagger evaluate` reads them); raw text sentence
by sentence (each sentence's ``# text`` through ``Tagger.predict``); raw text from whole documents (each
document's sentences joined as the segmenter was trained, one string per document). With ``--spacy``, the
two raw-text rows again with spaCy's tokenizer for the model's language in place of the segmenter (for
Vietnamese: pyvi), the same model labelling what it makes.
- Span tasks (NER): entities matched by character offsets into the text (start, end, label); precision,
  recall and F1 over all entities, so a word boundary the segmenter misses costs the entities on it.
- Token tasks (UPOS), as the CoNLL 2018 evaluation script counts them: a predicted word is aligned when
  its character span is a gold word's; precision and recall of words with the right label over the
  predicted and the gold words, their F1, and the aligned accuracy (right labels over aligned words).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tagger import Tagger
from tagger.core.schemes import tags_to_spans
from tagger.core.tokenize import Tokenizer
from tagger.core.types import Prediction, Sentence
from tagger.data import load_corpus
from tagger.training.segmenter import (
    find_words,
    read_corpus,
    separator_of,
    surface_tokens,
)

Labelled = dict[tuple[int, int], str]  # a word's (or entity's) character span -> its label


def gold_sentences(tagger: Tagger, corpus: str) -> list[tuple[Sentence, list[tuple[int, int]]]]:
    """The corpus's sentences as the model reads them, with each word's offsets in the sentence's text."""
    found = []
    for sentence in load_corpus(corpus, None, tagger.config):
        words = find_words(sentence.text or "", surface_tokens(sentence))
        if words is not None and len(words) == len(sentence.tokens):  # multiword tokens: not comparable by words
            found.append((sentence, words))
    return found


def labelled(task: str, tagger: Tagger, tokens_tags: list[str], offsets: list[tuple[int, int]]) -> Labelled:
    spec = tagger.task_specs[task]
    if spec.is_span:
        spans = tags_to_spans(spec.to_bio(tokens_tags), "BIO")
        return {(offsets[s.start][0], offsets[s.end - 1][1]): s.label for s in spans}
    return {offset: tag for offset, tag in zip(offsets, tokens_tags)}


def predicted(task: str, tagger: Tagger, prediction: Prediction, shift: int = 0) -> Labelled:
    return {(start + shift, end + shift): label
            for (start, end), label in labelled(task, tagger, prediction.tags[task], prediction.offsets or []).items()}


def scores(task: str, tagger: Tagger, gold: list[Labelled], found: list[Labelled]) -> dict[str, float]:
    right = sum(sum(1 for span, label in f.items() if g.get(span) == label) for g, f in zip(gold, found))
    made, due = sum(map(len, found)), sum(map(len, gold))
    precision, recall = right / made if made else 0.0, right / due if due else 0.0
    result = {"precision": 100 * precision, "recall": 100 * recall,
              "f1": 200 * precision * recall / (precision + recall) if precision + recall else 0.0}
    if not tagger.task_specs[task].is_span:
        aligned = sum(sum(1 for span in f if span in g) for g, f in zip(gold, found))
        result["aligned_accuracy"] = 100 * right / aligned if aligned else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("corpus")
    parser.add_argument("--spacy", action="store_true", help="also read the raw text with spaCy's tokenizer")
    parser.add_argument("--json")
    args = parser.parse_args()
    tagger = Tagger.load(args.model)
    if tagger.segmenter is None:
        parser.error(f"{args.model} carries no segmenter")
    sentences = gold_sentences(tagger, args.corpus)
    rows = run(tagger, sentences, "")
    if args.spacy:
        tagger.tokenizer = Tokenizer(tagger.config.lang)
        rows += [row for row in run(tagger, sentences, f" (spaCy {tagger.config.lang} tokenizer)") if row["input"] != "gold words"]
    show(args, sentences, rows)


def run(tagger: Tagger, sentences: list[tuple[Sentence, list[tuple[int, int]]]], how: str) -> list[dict]:
    """The rows of every task: gold words, raw text sentence by sentence, raw text from whole documents."""
    rows = []
    for task in tagger.tasks:
        gold = [labelled(task, tagger, s.tags[task], words) for s, words in sentences]
        on_gold = tagger.predict([s.tokens for s, _ in sentences])
        on_words = [labelled(task, tagger, p.tags[task], words) for p, (_, words) in zip(on_gold, sentences)]
        on_text = [predicted(task, tagger, p) for p in tagger.predict([s.text for s, _ in sentences])]
        rows += [{"task": task, "input": "gold words", **scores(task, tagger, gold, on_words)},
                 {"task": task, "input": f"raw text, sentence by sentence{how}", **scores(task, tagger, gold, on_text)}]
        corpus = read_corpus(s for s, _ in sentences)  # the same sentences, by document
        documents, separator = corpus.documents, separator_of(corpus)
        position, doc_gold, doc_found = 0, [], []
        for document in documents:
            text, merged = "", {}
            for _ in document:
                sentence_gold = gold[position]
                shift = len(text) + (len(separator) if text else 0)
                text += (separator if text else "") + sentences[position][0].text
                merged.update({(a + shift, b + shift): label for (a, b), label in sentence_gold.items()})
                position += 1
            doc_gold.append(merged)
            doc_found.append(predicted(task, tagger, tagger.predict(text)))
        rows.append({"task": task, "input": f"raw text, whole documents{how}", **scores(task, tagger, doc_gold, doc_found)})
    return rows


def show(args: argparse.Namespace, sentences: list, rows: list[dict]) -> None:
    table = Table(title=f"{args.model} on {args.corpus}: {len(sentences)} sentences")
    for column in ("task", "input", "P", "R", "F1", "aligned accuracy"):
        table.add_column(column, justify="left" if column in ("task", "input") else "right")
    for row in rows:
        table.add_row(row["task"], row["input"], f"{row['precision']:.2f}", f"{row['recall']:.2f}", f"{row['f1']:.2f}",
                      f"{row['aligned_accuracy']:.2f}" if "aligned_accuracy" in row else "-")
    Console(width=140).print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": args.model, "corpus": args.corpus, "rows": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
