"""String <-> id maps: words (normalised keys), characters and labels per task; JSON in and out."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from tagger.core.errors import ModelFormatError
from tagger.core.types import NO_LABEL, Sentence

PAD = "<pad>"
UNK = "<unk>"
MASK = "<mask>"  # the blanked-out word of masked-token prediction (a word and a character of its own)
SPECIALS = (PAD, UNK, MASK)
_DIGITS = re.compile(r"\d")


class Index:
    """A fixed list of strings and their positions. Specials come first (``<pad>`` is 0)."""

    def __init__(self, items: Iterable[str]) -> None:
        self.items: list[str] = []
        self.ids: dict[str, int] = {}
        for item in items:
            if item not in self.ids:
                self.ids[item] = len(self.items)
                self.items.append(item)
        self.unk_id = self.ids.get(UNK)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.ids

    def id(self, item: str) -> int:
        found = self.ids.get(item, self.unk_id)
        if found is None:
            raise KeyError(f"{item!r} is not in the index and it has no {UNK}")
        return found

    def item(self, index: int) -> str:
        return self.items[index]


def word_key(word: str, lowercase: bool) -> str:
    """The key a word is looked up by: lower-cased with digits folded to 0 when ``lowercase``."""
    return _DIGITS.sub("0", word.lower()) if lowercase else word


@dataclass
class Vocab:
    """Words (by key), characters, each task's labels and each extra feature's values
    (``Sentence.features``; unknown values map to ``<unk>``).

    With ``fold_unknown`` a cased vocabulary looks an unknown word up again by its lower-cased,
    digit-folded key before giving ``<unk>``: "Obama" finds "obama", which lower-cased pretrained
    vectors brought in. Vocabularies saved before it existed keep their plain lookup.
    """

    words: Index
    chars: Index
    labels: dict[str, Index]
    lowercase: bool = True
    fold_unknown: bool = False
    features: dict[str, Index] = field(default_factory=dict)
    lexicon: tuple[str, ...] = ()  # a segmenter's: the words of its corpus (tagger.model.segmenter.Lexicon)

    @classmethod
    def build(
        cls,
        sentences: Iterable[Sentence],
        tasks: Iterable[str],
        min_freq: int = 1,
        lowercase: bool = True,
        extra_words: Iterable[str] = (),
        max_words: int = 0,
        base: Vocab | None = None,
        keep_rare: Container[str] = (),
        features: Iterable[str] = (),
        lexicon: Iterable[str] = (),
    ) -> Vocab:
        """Count training sentences: words at least ``min_freq`` times or in ``keep_rare`` (the
        ``max_words`` most frequent, if set), every character, every label; then ``extra_words``
        (keys, e.g. those of pretrained vectors). Training words are ordered by frequency.
        Each feature named in ``features`` keeps its values seen at least ``min_freq`` times.

        With ``base`` (a pretrained model's vocabulary) its words and characters keep their
        ids and the new ones follow, so the pretrained rows of the embedding tables still fit.
        """
        if base is not None:
            lowercase = base.lowercase
        word_counts: Counter[str] = Counter()
        char_counts: Counter[str] = Counter()
        label_counts: dict[str, Counter[str]] = {task: Counter() for task in tasks}
        feature_counts: dict[str, Counter[str]] = {name: Counter() for name in features}
        for sentence in sentences:
            for token in sentence.tokens:
                word_counts[word_key(token, lowercase)] += 1
                char_counts.update(token)
            char_counts[" "] += len(sentence.tokens) + 1  # the spaces of the sentence-level character stream
            for task, tags in sentence.tags.items():
                if task in label_counts:
                    label_counts[task].update(tags)
            for name, values in sentence.features.items():
                if name in feature_counts:
                    feature_counts[name].update(values)
        for counts in label_counts.values():
            counts.pop(NO_LABEL, None)
        frequent = [w for w, n in word_counts.most_common(max_words or None) if n >= min_freq or w in keep_rare]
        known_words, known_chars = (base.words.items, base.chars.items) if base is not None else ((), ())
        words = Index([*SPECIALS, *known_words, *frequent, *extra_words])
        chars = Index([*SPECIALS, *known_chars, *(c for c, _ in char_counts.most_common())])
        labels = {task: Index(sorted(counts)) for task, counts in label_counts.items()}
        kept = {name: Index([*SPECIALS, *(v for v, n in counts.most_common() if n >= min_freq)]) for name, counts in feature_counts.items()}
        return cls(words, chars, labels, lowercase, fold_unknown=base.fold_unknown if base is not None else True, features=kept,
                   lexicon=tuple(sorted(set(lexicon))))

    def word_id(self, word: str) -> int:
        if word == MASK:
            return self.words.id(MASK)
        found = self.words.ids.get(word_key(word, self.lowercase))
        if found is None and self.fold_unknown and not self.lowercase:
            found = self.words.ids.get(word_key(word, True))
        return self.words.id(UNK) if found is None else found

    def to_dict(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "fold_unknown": self.fold_unknown,
            "words": self.words.items,
            "chars": self.chars.items,
            "labels": {task: index.items for task, index in self.labels.items()},
            **({"features": {name: index.items for name, index in self.features.items()}} if self.features else {}),
            **({"lexicon": list(self.lexicon)} if self.lexicon else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "vocab.json") -> Vocab:
        """A vocabulary as :meth:`to_dict` wrote it. A model directory may come from anyone, so anything else
        is a ModelFormatError naming ``source`` and the key: lists of distinct strings, ``<pad>`` first and
        an ``<unk>`` among words, characters and feature values, labels that are not empty."""
        if not isinstance(data, dict):
            raise ModelFormatError(f"{source}: not a vocabulary (expected a JSON object, got {type(data).__name__})")
        for key, kind in (("labels", dict), ("features", dict), ("lowercase", bool), ("fold_unknown", bool), ("lexicon", list)):
            if key in data and not isinstance(data[key], kind):
                raise ModelFormatError(f"{source}: {key}: expected {_KINDS[kind]}, got {json.dumps(data[key])[:80]}")
        for key in ("words", "chars", "labels", "lowercase"):
            if key not in data:
                raise ModelFormatError(f"{source}: not a vocabulary ({key} is missing)")
        lexicon = data.get("lexicon", [])
        if not all(isinstance(word, str) for word in lexicon):
            raise ModelFormatError(f"{source}: lexicon: a word is a string, not {next(w for w in lexicon if not isinstance(w, str))!r}")
        return cls(
            Index(_items(data["words"], "words", source, specials=True)),
            Index(_items(data["chars"], "chars", source, specials=True)),
            {task: Index(_items(items, f"labels.{task}", source, labels=True)) for task, items in data["labels"].items()},
            data["lowercase"],
            data.get("fold_unknown", False),
            {name: Index(_items(items, f"features.{name}", source, specials=True)) for name, items in data.get("features", {}).items()},
            tuple(lexicon),
        )


_KINDS = {dict: "an object", bool: "true or false", list: "a list"}


def _items(items: Any, key: str, source: str, specials: bool = False, labels: bool = False) -> list[str]:
    """``items`` checked to be what an Index of a saved vocabulary holds (see Vocab.from_dict)."""
    if not isinstance(items, list):
        raise ModelFormatError(f"{source}: {key}: expected a list of strings, got {json.dumps(items)[:80]}")
    seen: dict[str, int] = {}
    for position, item in enumerate(items):
        if not isinstance(item, str) or (labels and not item):
            what = "a label is a string that is not empty" if labels else "an entry is a string"
            raise ModelFormatError(f"{source}: {key}[{position}] is {json.dumps(item)[:80]}: {what}")
        if item in seen:
            raise ModelFormatError(f"{source}: {key}: {item!r} is there twice (at {seen[item]} and {position}): each id has its own entry")
        seen[item] = position
    if specials and (items[:1] != [PAD] or UNK not in seen):
        raise ModelFormatError(f"{source}: {key}: expected {PAD!r} first and {UNK!r} among the entries, got {json.dumps(items[:3])[:80]}...")
    return items
