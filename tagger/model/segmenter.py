"""A word and sentence segmenter learned from a corpus: raw text -> words with character offsets.

Where spaCy's rules cannot find a corpus's words (Chinese and Japanese write them without spaces,
Vietnamese words hold spaces, a corpus splits its own way), the tokenization front end is learned
from the corpus, the way Stanza and UDPipe learn theirs, with the same embeddings, encoder and heads
one level down. Every character that is not whitespace is a *unit*, a token of a
:class:`~tagger.nn.model.SequenceTagger`; every word is a span of units, in BIOES tags of the task
``segment``, labelled ``W``, or ``S`` when the word starts a sentence; a CRF decodes them.

A unit reads three things beside its own character (marked ``▁`` when whitespace comes before it):
- ``bigram``: the unit and the next one;
- ``lexicon_start`` and ``lexicon_end``: the lengths of the corpus words (two units or more) that
  start and end at it in the text. The model's lexicon is every word of its training corpus; for
  training, each sentence sees the lexicon of the *other* folds of the corpus, so the model learns
  how far a match can be trusted in text that holds words it never saw (without that, a match is
  always right in training and the model learns to copy it).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.core.errors import TaggerError
from tagger.core.schemes import convert
from tagger.core.tasks import SEGMENT
from tagger.core.types import Sentence

if TYPE_CHECKING:
    from tagger.core.runtime import RunOptions
    from tagger.model.predict import Tagger

WORD, FIRST = "W", "S"  # a word; a word that starts a sentence
SPACE_MARK = "\u2581"  # before a unit that follows whitespace
END = "</s>"
FEATURES = ("bigram", "lexicon_start", "lexicon_end", "kind")
MAX_WORD_UNITS = 16  # longer lexicon words are not looked for
WINDOW = 400  # units labelled together at most: a longer text is labelled in overlapping windows
OVERLAP = 50  # units of context on each side of a window's middle, which alone is kept


def units(text: str) -> list[int]:
    """The character positions of ``text`` that are units: every one that is not whitespace."""
    return [i for i, char in enumerate(text) if not char.isspace()]


def kind(char: str) -> str:
    """What sort of character: its Unicode category, with the script of letters that are not Latin
    (``Lo`` holds Han, kana, Thai...): a character the model has not seen still says what it is."""
    category = unicodedata.category(char)
    if category == "Lo":
        return unicodedata.name(char, "Lo").split()[0]
    return category


def lexicon_key(word: str) -> str:
    """A word as the lexicon keeps it: whitespace runs inside it as one space."""
    return " ".join(word.split())


def _bucket(length: int) -> str:
    return str(length) if length <= 4 else "5" if length <= 6 else "7" if length <= 9 else "10"


class Lexicon:
    """Words of a corpus (two units or more), found in text by :meth:`matches`."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = frozenset(key for key in map(lexicon_key, words) if len(key.replace(" ", "")) >= 2)
        # Only of the words :meth:`matches` can find (MAX_WORD_UNITS units at most): the prefixes of a longer one
        # would cost memory as its length squared (a lexicon read from a model directory may hold anything).
        self._prefixes = frozenset(word[:end] for word in self.words if len(word.replace(" ", "")) <= MAX_WORD_UNITS
                                   for end in range(1, len(word) + 1))

    def __len__(self) -> int:
        return len(self.words)

    def matches(self, text: str, positions: Sequence[int]) -> tuple[list[str], list[str]]:
        """For each unit, the length buckets of the lexicon words that start at it and that end at it
        ("-" for none), written as features."""
        starts: list[set[str]] = [set() for _ in positions]
        ends: list[set[str]] = [set() for _ in positions]
        for first in range(len(positions)):
            key = ""
            for last in range(first, min(first + MAX_WORD_UNITS, len(positions))):
                if last > first and positions[last] > positions[last - 1] + 1:
                    key += " "  # whitespace between the two units
                key += text[positions[last]]
                if key not in self._prefixes:
                    break
                if last > first and key in self.words:
                    bucket = _bucket(last - first + 1)
                    starts[first].add(bucket)
                    ends[last].add(bucket)
        return [",".join(sorted(found)) or "-" for found in starts], [",".join(sorted(found)) or "-" for found in ends]


def unit_sentence(text: str, lexicon: Lexicon, words: Sequence[tuple[int, int]] | None = None,
                  sentence_starts: Iterable[int] = (), positions: Sequence[int] | None = None) -> Sentence:
    """``text`` as the segmenter reads it: its units (or those at ``positions``, a window of them) with their
    features and, given the ``words`` (character offsets) and the indices of the words that start a
    sentence, their tags."""
    positions = units(text) if positions is None else positions
    tokens = [(SPACE_MARK if i == 0 or text[i - 1].isspace() else "") + text[i] for i in positions]
    lexicon_start, lexicon_end = lexicon.matches(text, positions)
    features = {"bigram": [token + nxt for token, nxt in zip(tokens, [*tokens[1:], END])],
                "lexicon_start": lexicon_start, "lexicon_end": lexicon_end, "kind": [kind(text[i]) for i in positions]}
    tags = {SEGMENT: word_tags(positions, words, set(sentence_starts))} if words is not None else {}
    return Sentence(tokens, tags, text=text, features=features)


def word_tags(positions: Sequence[int], words: Sequence[tuple[int, int]], sentence_starts: set[int]) -> list[str]:
    """BIOES tags of the units: each word a span, labelled FIRST when it starts a sentence."""
    unit_of = {position: n for n, position in enumerate(positions)}
    tags = [""] * len(positions)
    for index, (start, end) in enumerate(words):
        label = FIRST if index in sentence_starts or index == 0 else WORD
        inside = [unit_of[p] for p in range(start, end) if p in unit_of]
        for k, unit in enumerate(inside):
            tags[unit] = f"{'B' if k == 0 else 'I'}-{label}"
    return convert(tags, "BIO", "BIOES")


@dataclass(frozen=True)
class Segmentation:
    """Words of a text as character offsets, and the indices of the words that start a sentence (0 first)."""

    words: list[tuple[int, int]]
    sentence_starts: list[int]


def decode(positions: Sequence[int], tags: Sequence[str]) -> Segmentation:
    """Words and sentence starts from the units' BIO tags: a word starts at each ``B-`` unit."""
    words: list[tuple[int, int]] = []
    starts: list[int] = []
    for position, tag in zip(positions, tags):
        if tag.startswith("B-") or not words:
            if tag.endswith(FIRST) or not words:
                starts.append(len(words))
            words.append((position, position + 1))
        else:
            words[-1] = (words[-1][0], position + 1)
    return Segmentation(words, starts)


def windows(length: int, size: int = WINDOW, overlap: int = OVERLAP) -> list[tuple[int, int, int, int]]:
    """Overlapping windows over ``length`` units: (window start, window end, kept start, kept end);
    the kept parts tile the units, each with ``overlap`` units of context on both sides where there are."""
    if length <= size:
        return [(0, length, 0, length)]
    found = []
    kept = 0
    while kept < length:
        start = max(0, kept - overlap)
        end = min(length, start + size)
        keep_end = length if end == length else end - overlap
        found.append((start, end, kept, keep_end))
        kept = keep_end
    return found


class Segmenter:
    """Raw text -> words and sentence starts, through a segmenter model (``tagger train`` with
    ``[segmenter] train = true``). The same interface as the spaCy tokenizer
    (:class:`tagger.core.tokenize.Tokenizer`): ``tokenize`` fills tokens, offsets and sentence starts."""

    def __init__(self, model: Tagger) -> None:
        if SEGMENT not in model.task_specs:
            raise TaggerError(f"a segmenter's model has the task {SEGMENT!r}; this one has {', '.join(model.task_specs) or 'none'}")
        self.model = model
        self.lexicon = Lexicon(model.vocab.lexicon)

    @classmethod
    def load(cls, directory: str | Path, run: RunOptions | None = None, **options: Any) -> Segmenter:
        """A segmenter from its model directory: one trained alone, or a model's that carries one (its
        ``segmenter/``); ``run`` and ``options`` as for ``Tagger.load``."""
        from tagger.model.predict import Tagger, run_options
        from tagger.model.serialize import SEGMENTER, load_model

        run = run_options(run, options)
        if (Path(directory) / SEGMENTER).is_dir():
            directory = Path(directory) / SEGMENTER
        return cls(Tagger.from_loaded(load_model(directory, str(run.torch_device)), str(directory), run))

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], source: str, run: RunOptions | None = None, **options: Any) -> Segmenter:
        """A segmenter from the bytes of its files (as ``model.files()`` gives them); ``source`` names them in errors."""
        from tagger.model.predict import Tagger, run_options
        from tagger.model.serialize import model_from_files

        run = run_options(run, options)
        return cls(Tagger.from_loaded(model_from_files(files, source, str(run.torch_device)), source, run))

    def segment(self, texts: Sequence[str], batch_size: int = 64) -> list[Segmentation]:
        """Each text's words and sentence starts. A text is read in windows (:func:`windows`) whose features
        are built one window at a time, so a long text costs memory for its windows in flight, not for its length."""
        positions = [units(text) for text in texts]
        tags: list[list[str]] = [[] for _ in texts]
        pending: list[tuple[int, int, int, int, Sentence]] = []  # text, window start, kept start and end, its reading

        def label() -> None:
            # Long windows in batches as wide as short sentences get: the LSTM steps through a batch's longest
            # row, so few wide rows would leave it stepping a long way for little work.
            found = self.model.label_sentences([reading for *_, reading in pending], batch_size, max_tokens=batch_size * WINDOW,
                                               max_length=WINDOW)
            for (n, start, keep_start, keep_end, _), prediction in zip(pending, found):
                tags[n].extend(prediction.tags[SEGMENT][keep_start - start : keep_end - start])
            pending.clear()

        for n, (text, text_units) in enumerate(zip(texts, positions)):
            for start, end, keep_start, keep_end in windows(len(text_units)):
                pending.append((n, start, keep_start, keep_end, unit_sentence(text, self.lexicon, positions=text_units[start:end])))
                if len(pending) >= 4 * batch_size:
                    label()
        label()
        return [decode(text_units, text_tags) for text_units, text_tags in zip(positions, tags)]

    def __call__(self, text: str) -> Sentence:
        return next(iter(self.tokenize([Sentence([], text=text)])))

    def tokenize(self, sentences: Iterable[Sentence], chunk: int = 256) -> Iterator[Sentence]:
        """Fill tokens, offsets and ``meta["sentence_starts"]`` of sentences that have text but no tokens;
        pass the others through. A token is its text with whitespace runs inside it as one space."""
        stream = iter(sentences)
        while batch := list(islice(stream, chunk)):
            todo = [s for s in batch if not s.tokens and s.text is not None]
            for sentence, found in zip(todo, self.segment([s.text for s in todo])):  # type: ignore[misc]
                sentence.tokens = [lexicon_key(sentence.text[start:end]) for start, end in found.words]  # type: ignore[index]
                sentence.offsets = list(found.words)
                sentence.meta["sentence_starts"] = found.sentence_starts[1:]
            yield from batch
