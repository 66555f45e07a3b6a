"""Small corpora in other languages than English, written by the tests themselves: a Universal NER dataset in
Chinese (no spaces between words) and a UD treebank in Vietnamese (words that hold spaces), each laid out as
the catalogue finds them (``$BIRNN_TAGGER_DATA/<name>/<code>_<treebank>-ud-<split>.<ext>``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

ZH_PEOPLE = ["李明", "王芳", "张伟", "刘洋", "陈静"]
ZH_PLACES = ["北京", "上海", "广州", "南京"]
ZH_ORGS = ["清华大学", "人民银行", "中国科学院"]
VI_PEOPLE = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh", "Phạm Hùng"]
VI_PLACES = ["Hà Nội", "Đà Nẵng", "Huế", "Sài Gòn"]


def zh_sentences() -> list[list[tuple[str, str]]]:
    """(word, IOB2 tag) per word, for every combination of a few templates."""
    sentences = []
    for person, place, org in itertools.product(ZH_PEOPLE, ZH_PLACES, ZH_ORGS):
        sentences.append([(person, "PER"), ("在", ""), (place, "LOC"), ("工作", ""), ("。", "")])
        sentences.append([(person, "PER"), ("是", ""), (org, "ORG"), ("的", ""), ("老师", ""), ("。", "")])
        sentences.append([("我们", ""), ("明天", ""), ("去", ""), (place, "LOC"), ("看", ""), (person, "PER"), ("。", "")])
    return sentences


def vi_sentences() -> list[list[tuple[str, str]]]:
    """(word, UPOS) per word: words of several syllables keep their spaces."""
    sentences = []
    for person, place in itertools.product(VI_PEOPLE, VI_PLACES):
        sentences.append([(person, "PROPN"), ("đi", "VERB"), (place, "PROPN"), ("hôm nay", "NOUN"), (".", "PUNCT")])
        sentences.append([("Tôi", "PRON"), ("yêu", "VERB"), (place, "PROPN"), ("và", "CCONJ"), (person, "PROPN"), (".", "PUNCT")])
        sentences.append([(person, "PROPN"), ("làm việc", "VERB"), ("ở", "ADP"), (place, "PROPN"), (".", "PUNCT")])
    return sentences


def _iob2(words: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(word, f"B-{label}" if label else "O") for word, label in words]


def _splits(sentences: list, every: int = 5) -> dict[str, list]:
    """Every ``every``-th sentence to dev and test by turns, the rest to train."""
    splits: dict[str, list] = {"train": [], "dev": [], "test": []}
    for n, sentence in enumerate(sentences):
        splits["dev" if n % (2 * every) == every else "test" if n % (2 * every) == 0 else "train"].append(sentence)
    return splits


def _write(data: Path, name: str, sentences: list, extension: str, render: Callable[[str, int, list], list[str]]) -> str:
    """Corpus ``name`` (``<family>-<code>-<treebank>``) under ``data``, each sentence's lines from ``render``."""
    code, treebank = name.split("-")[1:]
    folder = data / name
    folder.mkdir(parents=True, exist_ok=True)
    for split, chosen in _splits(sentences).items():
        lines = [line for n, words in enumerate(chosen) for line in [*render(split, n, words), ""]]
        (folder / f"{code}_{treebank}-ud-{split}.{extension}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def _uner_zh_lines(split: str, n: int, words: list[tuple[str, str]]) -> list[str]:
    lines = [f"# newdoc id = {split}-{n // 10}"] if n % 10 == 0 else []
    lines += [f"# sent_id = {split}-{n}", f"# text = {''.join(w for w, _ in words)}"]
    return lines + [f"{i}\t{word}\t{tag}\t-\t-" for i, (word, tag) in enumerate(_iob2(words), start=1)]


def _ud_vi_lines(split: str, n: int, words: list[tuple[str, str]]) -> list[str]:
    lines = [f"# sent_id = {split}-{n}", f"# text = {' '.join(w for w, _ in words)}"]
    return lines + [f"{i}\t{word}\t{word.lower()}\t{upos}\t_\t_\t0\t_\t_\t_" for i, (word, upos) in enumerate(words, start=1)]


def write_uner_zh(data: Path, name: str = "uner-zh-tiny") -> str:
    """A Universal NER dataset ``name`` (``uner-zh-<treebank>``) under ``data``; returns its name."""
    return _write(data, name, zh_sentences(), "iob2", _uner_zh_lines)


def write_ud_vi(data: Path, name: str = "ud-vi-tiny") -> str:
    """A UD treebank ``name`` (``ud-vi-<treebank>``) under ``data``; returns its name."""
    return _write(data, name, vi_sentences(), "conllu", _ud_vi_lines)


# Sizes that train in seconds and still learn the templates above.
TINY = ["embeddings.word_dim=16", "embeddings.char_dim=8", "embeddings.char_hidden=16", "encoder.hidden_size=24",
        "encoder.num_layers=1", "training.max_epochs=12", "training.patience=0", "training.learning_rate=0.01",
        "training.warmup_steps=5", "training.batch_size=8", "training.threads=1", "segmenter.unit_dim=16",
        "segmenter.bigram_dim=16", "segmenter.lexicon_dim=4", "segmenter.kind_dim=4", "segmenter.hidden_size=24",
        "segmenter.num_layers=1", "segmenter.max_epochs=25", "segmenter.patience=0", "segmenter.learning_rate=0.01",
        "segmenter.batch_size=8", "segmenter.min_freq=1"]
