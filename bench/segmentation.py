"""Word segmentation from raw text, side by side on the same text in one run: our learned segmenter against
what a user would otherwise use (spaCy's Chinese segmenters `char` and `jieba`; pyvi, which spaCy's
Vietnamese tokenizer runs), on the test split of a corpus that has each sentence's text.

    export BIRNN_TAGGER_DATA=../shared/corpora
    python bench/segmentation.py uner-zh-gsdsimp:test --model ../runs/languages/uner-zh-gsdsimp --json zh.json
    python bench/segmentation.py ud-vi-vtb:test --model ../runs/languages/ud-vi-vtb --json vi.json

Two settings (as :func:`tagger.training.segmenter.score` defines them):
- sentence by sentence: each sentence's ``# text`` segmented alone;
- whole documents: each document's sentences joined (with a space, or with nothing where the corpus writes
  none, as training joined them), sentences found by the segmenter (so also sentence F1; the peers find no
  sentences, so theirs is left out). A file without ``# newdoc`` is one document.
Words are matched by character offsets (precision, recall, F1 in percent, as the CoNLL 2018 script counts
words). A peer's tokens are put back on the text character by character (pyvi writes ``Hà_Nội``).
Characters/s: the whole setting's text through each system, one warm-up pass, best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tagger.core.config import SourceConfig
from tagger.data import load_sentences
from tagger.model.segmenter import Segmentation, Segmenter
from tagger.training.segmenter import join, read_corpus, separator_of, word_scores


def on_text(text: str, tokens: Sequence[str]) -> Segmentation:
    """A peer's tokens as character offsets into ``text``: each token's characters that are not whitespace,
    matched in order against the text's."""
    visible = [i for i, char in enumerate(text) if not char.isspace()]
    words, at = [], 0
    for token in tokens:
        chars = [c for c in token if not c.isspace()]
        if not chars:
            continue
        first = at
        for char in chars:
            if at >= len(visible) or text[visible[at]] != char:
                raise ValueError(f"token {token!r} is not the text at character {visible[min(at, len(visible) - 1)]}")
            at += 1
        words.append((visible[first], visible[at - 1] + 1))
    return Segmentation(words, [0])


def spacy_system(lang: str, segmenter: str | None = None) -> Callable[[list[str]], list[Segmentation]]:
    import spacy

    nlp = spacy.blank(lang, config={"nlp": {"tokenizer": {"segmenter": segmenter}}} if segmenter else None)
    return lambda texts: [on_text(text, [t.text for t in doc if not t.is_space]) for text, doc in zip(texts, nlp.pipe(texts))]


def pyvi_system() -> Callable[[list[str]], list[Segmentation]]:
    from pyvi import ViTokenizer

    def words(text: str) -> list[str]:
        """pyvi joins a word's syllables with ``_``: a ``_`` the text has stays one."""
        return [token if token.strip("_") == "" or token in text else token.replace("_", " ") for token in ViTokenizer.tokenize(text).split()]

    return lambda texts: [on_text(text, words(text)) for text in texts]


def systems(lang: str, model: str | None) -> dict[str, Callable[[list[str]], list[Segmentation]]]:
    found: dict[str, Callable[[list[str]], list[Segmentation]]] = {}
    if model:
        segmenter = Segmenter.load(model)
        found["ours (learned segmenter)"] = lambda texts: segmenter.segment(texts)
    if lang == "zh":
        found["spaCy zh char"] = spacy_system("zh", "char")
        found["spaCy zh jieba"] = spacy_system("zh", "jieba")
    if lang == "vi":
        found["pyvi (spaCy vi)"] = pyvi_system()
    return found


def timed(system: Callable[[list[str]], list[Segmentation]], texts: list[str], repeats: int) -> tuple[list[Segmentation], float]:
    found = system(texts)  # warm-up, and the result
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        system(texts)
        best = min(best, time.perf_counter() - start)
    return found, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="name:split of a corpus with raw text, e.g. uner-zh-gsdsimp:test")
    parser.add_argument("--model", help="a model directory that carries a segmenter (or a segmenter's own)")
    parser.add_argument("--lang", help="the language of the peers (default: the corpus name's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    lang = args.lang or args.corpus.split("-")[1]
    corpus = read_corpus(load_sentences([SourceConfig(path=args.corpus)], {}))
    separator = separator_of(corpus)
    sentences = corpus.sentences
    documents = [join(document, separator) for document in corpus.documents]
    settings = {"sentence by sentence": ([s.text for s in sentences], [s.segmentation for s in sentences]),
                "whole documents": ([d.text for d in documents], [d.segmentation for d in documents])}
    rows = []
    for name, system in systems(lang, args.model).items():
        for setting, (texts, gold) in settings.items():
            found, seconds = timed(system, texts, args.repeats)
            scores = word_scores(gold, found)
            if not name.startswith("ours"):
                scores = {k: v for k, v in scores.items() if not k.startswith("sentences_")}
            rows.append({"system": name, "setting": setting, **scores, "chars_per_second": sum(map(len, texts)) / seconds})
    table = Table(title=f"{args.corpus}: {len(sentences)} sentences, {len(documents)} documents, "
                        f"{sum(len(s.words) for s in sentences):,} words (joined with {separator!r})")
    for column in ("system", "setting", "words P", "words R", "words F1", "sentences F1", "chars/s"):
        table.add_column(column, justify="left" if column in ("system", "setting") else "right")
    for row in rows:
        table.add_row(row["system"], row["setting"], f"{row['words_precision']:.2f}", f"{row['words_recall']:.2f}",
                      f"{row['words_f1']:.2f}", f"{row['sentences_f1']:.2f}" if "sentences_f1" in row else "-",
                      f"{row['chars_per_second']:,.0f}")
    Console(width=160).print(table)
    if args.json:
        Path(args.json).write_text(json.dumps({"corpus": args.corpus, "separator": separator, "rows": rows,
                                               "python": platform.python_version()}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
