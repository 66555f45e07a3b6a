"""Raw text -> tokens with character offsets, through spaCy's tokenizer for the model's language."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property

from tagger.types import Sentence


class Tokenizer:
    """spaCy's rule-based tokenizer (``spacy.blank(lang)``); whitespace tokens are dropped."""

    def __init__(self, lang: str = "en") -> None:
        self.lang = lang

    @cached_property
    def _spacy(self):  # noqa: ANN202 - spacy.tokenizer.Tokenizer, imported lazily (slow import)
        import spacy

        return spacy.blank(self.lang).tokenizer

    def __call__(self, text: str) -> Sentence:
        return next(iter(self.tokenize([Sentence([], text=text)])))

    def tokenize(self, sentences: Iterable[Sentence]) -> Iterator[Sentence]:
        """Fill tokens and offsets of sentences that have text but no tokens; pass the others through."""
        for sentence in sentences:
            if sentence.tokens or sentence.text is None:
                yield sentence
                continue
            doc = self._spacy(sentence.text)
            words = [t for t in doc if not t.is_space]
            sentence.tokens = [t.text for t in words]
            sentence.offsets = [(t.idx, t.idx + len(t.text)) for t in words]
            yield sentence
