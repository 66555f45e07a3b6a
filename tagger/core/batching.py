"""Sentences -> Batch of padded id tensors, and length-bucketed batch orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from tagger.core.config import EmbeddingsConfig
from tagger.core.types import Sentence
from tagger.core.vocab import MASK, Vocab

IGNORE = -100  # target id of padding and of tasks a sentence has no labels for
MASKED_LM = "masked_lm"  # Batch.targets and model outputs: the masked-token prediction
CHAR_LM = "char_lm"  # model outputs: the character language model's loss


@dataclass
class CharStream:
    """Each sentence's characters as one row, words joined by spaces with a space at both ends:
    " The cat " for ["The", "cat"]. ``boundaries[:, i]`` is the space before word i and
    ``boundaries[:, i + 1]`` the one after it."""

    ids: torch.Tensor  # [batch, chars], 0 after a row's end
    lengths: torch.Tensor  # [batch], on the CPU
    boundaries: torch.Tensor  # [batch, seq + 1]

    def to(self, device: torch.device | str) -> CharStream:
        return CharStream(self.ids.to(device, non_blocking=True), self.lengths, self.boundaries.to(device, non_blocking=True))

    @property
    def num_predicted(self) -> int:
        """Characters the character LM predicts in each direction: all but a row's first."""
        return int(self.lengths.sum()) - len(self.lengths)


@dataclass
class Batch:
    word_ids: torch.Tensor  # [batch, seq]
    char_ids: torch.Tensor  # [types, chars]: characters of each distinct word form in the batch
    char_index: torch.Tensor  # [batch, seq]: row of char_ids for each token
    lengths: torch.Tensor  # [batch], on the CPU (packing wants it there)
    mask: torch.Tensor  # [batch, seq] bool
    targets: dict[str, torch.Tensor] = field(default_factory=dict)  # task -> [batch, seq], IGNORE where absent
    stream: CharStream | None = None  # for the sentence-level character encoder only
    features: dict[str, torch.Tensor] = field(default_factory=dict)  # feature -> [batch, seq] value ids (Sentence.features)

    def to(self, device: torch.device | str) -> Batch:
        if torch.device(device).type == "cpu":
            return self
        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=True)

        return Batch(move(self.word_ids), move(self.char_ids), move(self.char_index), self.lengths,
                     move(self.mask), {k: move(v) for k, v in self.targets.items()},
                     self.stream.to(device) if self.stream is not None else None, {k: move(v) for k, v in self.features.items()})

    @property
    def num_tokens(self) -> int:
        return int(self.lengths.sum())


class BatchEncoder:
    """Turns Sentences into Batches for one vocabulary; caches each word form's ids.

    With ``char_stream`` the batches also carry each sentence's characters as one row
    (:class:`CharStream`), which the sentence-level character encoder reads.
    """

    def __init__(self, vocab: Vocab, max_word_chars: int = 30, cache_size: int = 200_000, char_stream: bool = False) -> None:
        self.vocab = vocab
        self.max_word_chars = max_word_chars
        self.char_stream = char_stream
        self.cache_size = cache_size
        self._cache: dict[str, tuple[int, list[int]]] = {}

    @classmethod
    def for_embeddings(cls, vocab: Vocab, embeddings: EmbeddingsConfig) -> BatchEncoder:
        """The encoder whose batches a model with these embeddings reads."""
        return cls(vocab, embeddings.max_word_chars, char_stream=embeddings.char_encoder == "sentence_lstm")

    def _lookup(self, word: str) -> tuple[int, list[int]]:
        found = self._cache.get(word)
        if found is None:
            chars = self.vocab.chars
            if word == MASK:  # a blank: no characters to read either, only the mask's own
                found = (self.vocab.word_id(word), [chars.id(MASK)])
            else:
                found = (self.vocab.word_id(word), [chars.id(c) for c in word[: self.max_word_chars]])
            if len(self._cache) < self.cache_size:
                self._cache[word] = found
        return found

    def encode(self, sentences: Sequence[Sentence], with_targets: bool = True, masked_targets: Sequence[Sequence[int]] | None = None) -> Batch:
        """Padded ids of the sentences; with ``masked_targets`` (from :func:`tagger.core.masking.mask_sentences`)
        the batch also carries the masked-token targets under ``MASKED_LM``."""
        size = len(sentences)
        longest = max((len(s) for s in sentences), default=0) or 1
        flat_words = [0] * (size * longest)  # flat rows, filled in Python and made tensors once
        flat_index = [0] * (size * longest)
        forms: dict[str, int] = {}
        form_chars: list[list[int]] = []  # the characters of each distinct form, in order of appearance
        for row, sentence in enumerate(sentences):
            offset = row * longest
            for column, token in enumerate(sentence.tokens):
                word_id, chars = self._lookup(token)
                position = forms.get(token)
                if position is None:
                    position = forms[token] = len(form_chars)
                    form_chars.append(chars)
                flat_words[offset + column] = word_id
                flat_index[offset + column] = position
        width = max(map(len, form_chars), default=0) or 1
        flat_chars = [c for chars in form_chars for c in (*chars, *[0] * (width - len(chars)))] or [0] * width
        char_ids = torch.tensor(flat_chars, dtype=torch.long).view(-1, width)
        word_ids = torch.tensor(flat_words, dtype=torch.long).view(size, longest)
        char_index = torch.tensor(flat_index, dtype=torch.long).view(size, longest)
        lengths = torch.tensor([len(s) for s in sentences], dtype=torch.long)
        mask = torch.arange(longest)[None, :] < lengths[:, None]
        targets = self._targets(sentences, longest) if with_targets else {}
        if masked_targets is not None:
            targets[MASKED_LM] = torch.tensor([list(row) + [IGNORE] * (longest - len(row)) for row in masked_targets], dtype=torch.long)
        stream = self._stream(sentences, longest) if self.char_stream else None
        return Batch(word_ids, char_ids, char_index, lengths, mask, targets, stream, self._features(sentences, longest))

    def _features(self, sentences: Sequence[Sentence], longest: int) -> dict[str, torch.Tensor]:
        """Each feature's value ids, [batch, seq]; ``<unk>`` for a value the vocabulary lacks or a sentence without it."""
        features = {}
        for name, index in self.vocab.features.items():
            unknown = index.unk_id
            rows = []
            for sentence in sentences:
                ids = [index.ids.get(value, unknown) for value in sentence.features.get(name, ())] or [unknown] * len(sentence)
                rows.append(ids + [0] * (longest - len(ids)))
            features[name] = torch.tensor(rows, dtype=torch.long)
        return features

    def stream_length(self, sentence: Sentence) -> int:
        """Length of the sentence's CharStream row: its characters and a space before each word and after the last."""
        return sum(len(self._lookup(token)[1]) for token in sentence.tokens) + len(sentence) + 1

    def _stream(self, sentences: Sequence[Sentence], longest: int) -> CharStream:
        space = self.vocab.chars.id(" ")
        rows, boundaries = [], []
        for sentence in sentences:
            row, bounds = [space], [0]
            for token in sentence.tokens:
                row.extend(self._lookup(token)[1])
                bounds.append(len(row))
                row.append(space)
            rows.append(row)
            boundaries.append(bounds + [0] * (longest + 1 - len(bounds)))
        width = max(map(len, rows))
        ids = torch.tensor([row + [0] * (width - len(row)) for row in rows], dtype=torch.long)
        return CharStream(ids, torch.tensor([len(row) for row in rows], dtype=torch.long), torch.tensor(boundaries, dtype=torch.long))

    def _targets(self, sentences: Sequence[Sentence], longest: int) -> dict[str, torch.Tensor]:
        targets = {}
        for task, labels in self.vocab.labels.items():
            tensor = torch.full((len(sentences), longest), IGNORE, dtype=torch.long)
            for row, sentence in enumerate(sentences):
                tags = sentence.tags.get(task)
                if tags:
                    tensor[row, : len(tags)] = torch.tensor([labels.ids.get(t, IGNORE) for t in tags])
            targets[task] = tensor
        return targets


def bucket_batches(
    lengths: Sequence[int], batch_size: int, generator: torch.Generator | None = None, window: int = 100
) -> list[list[int]]:
    """Indices grouped into batches of similar length, for training.

    Shuffle, sort within windows of ``window`` batches, then shuffle the batch order, so
    padding stays low and every epoch differs. Without a generator: :func:`sorted_batches`.
    """
    if generator is None:
        return sorted_batches(lengths, batch_size)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * window
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def sorted_batches(lengths: Sequence[int], batch_size: int, max_tokens: int = 0) -> list[list[int]]:
    """Indices sorted longest first, cut into batches of at most ``batch_size`` sentences and,
    with ``max_tokens``, at most that many padded tokens (rows x longest): long sentences go
    in small batches, short ones in large, so a batch is neither mostly padding nor tiny."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        if batch is None or len(batch) >= batch_size or (max_tokens and (len(batch) + 1) * lengths[batch[0]] > max_tokens):
            batches.append([index])
        else:
            batch.append(index)
    return batches
