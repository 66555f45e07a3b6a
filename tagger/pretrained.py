"""Pretrained word vectors from a word2vec text file (optional header line ``count dim``)."""

from __future__ import annotations

from pathlib import Path

import torch

from tagger.errors import DataFormatError
from tagger.readers.lines import read_lines
from tagger.vocab import Vocab, word_key


def _rows(path: str | Path):  # noqa: ANN202 - Iterator[tuple[int, str, list[str]]]
    for number, line in read_lines(path):
        fields = line.rstrip().split(" ")
        if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
            continue  # the word2vec header
        if len(fields) < 2:
            raise DataFormatError(path, number, "expected a word followed by its vector")
        yield number, fields[0], fields[1:]


def load_pretrained_words(path: str | Path) -> list[str]:
    return [word for _, word, _ in _rows(path)]


def load_pretrained_vectors(path: str | Path, vocab: Vocab, table: torch.Tensor) -> int:
    """Copy vectors into the rows of ``table`` of words the vocabulary knows; returns how many."""
    found = 0
    with torch.no_grad():
        for number, word, values in _rows(path):
            if len(values) != table.shape[1]:
                raise DataFormatError(path, number, f"vector of size {len(values)}, but embeddings.word_dim is {table.shape[1]}")
            key = word_key(word, vocab.lowercase)
            if key in vocab.words:
                try:
                    table[vocab.words.id(key)] = torch.tensor([float(v) for v in values])
                except ValueError:
                    raise DataFormatError(path, number, "vector values must be numbers") from None
                found += 1
    return found
