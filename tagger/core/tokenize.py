"""Raw text -> tokens with character offsets, through spaCy's tokenizer for the model's language."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from tagger.core.errors import InputError, TaggerError
from tagger.core.types import Sentence

if TYPE_CHECKING:
    from tagger.core.config import TaggerConfig

# spaCy languages whose tokenizer needs a package of its own: the package to install.
TOKENIZER_PACKAGES = {"vi": "pyvi", "ja": "sudachipy sudachidict_core", "ko": "natto-py (and the mecab-ko library)", "th": "pythainlp"}
# Languages whose words spaCy's rules cannot find: not written apart (zh, ja, th, ...), or holding spaces (vi).
UNSPACED = ("zh", "lzh", "yue", "wuu", "ja", "th", "vi", "lo", "km", "my", "bo")

# Longer token sequences are labelled in pieces of at most this many tokens, split at sentence
# boundaries where known: the model was trained on sentences, and long inputs cost memory.
LONG_SENTENCE = 200


def pieces(sentence: Sentence, limit: int = LONG_SENTENCE) -> list[tuple[int, int]]:
    """Token ranges to label (or train on) separately: the whole sentence unless it is longer than
    ``limit``; then pieces split at its sentence starts (``meta["sentence_starts"]``) and, within
    a sentence still too long, every ``limit`` tokens."""
    length = len(sentence)
    if length <= limit:
        return [(0, length)] if length else []
    starts = [0, *(i for i in sentence.meta.get("sentence_starts", []) if 0 < i < length), length]
    ranges = []
    for start, end in zip(starts, starts[1:]):
        ranges.extend((i, min(i + limit, end)) for i in range(start, end, limit))
    return ranges


def encodable(text: str, *, where: str = "") -> str:
    """``text``; InputError (a ValueError) if it holds a lone surrogate, which no file or response can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        place = f"{where}: " if where else ""
        raise InputError(f"{place}not encodable text (a lone surrogate {text[error.start]!r} at character {error.start})") from None
    return text


@cache
def spacy_tokenizer(lang: str):  # noqa: ANN201 - spacy.tokenizer.Tokenizer, imported lazily (slow import)
    """spaCy's tokenizer for ``lang``; TaggerError naming the package to install when it needs one that is missing."""
    import spacy

    try:
        return spacy.blank(lang).tokenizer
    except ImportError as error:
        package = TOKENIZER_PACKAGES.get(lang, "the package its error names")
        raise TaggerError(f"spaCy's tokenizer for language {lang!r} needs {package}: pip install {package.split(' (')[0]}; "
                          "or learn the corpus's own words with [segmenter] train = true ({error})".format(error=str(error).split(". ")[0])) from None


def needs_spacy_tokenizer(config: TaggerConfig) -> bool:
    """Whether raw text for a model of ``config`` goes through a spaCy tokenizer that needs a package of its own:
    not when the model reads it with a segmenter, nor for a segmenter's own network."""
    from tagger.core.tasks import SEGMENT

    return config.lang in TOKENIZER_PACKAGES and not config.has_segmenter and SEGMENT not in config.tasks


def package_missing(lang: str) -> bool:
    """Whether spaCy's tokenizer for ``lang`` needs a package that is not installed."""
    try:
        spacy_tokenizer(lang)
    except TaggerError:
        return True
    return False


class Tokenizer:
    """spaCy's rule-based tokenizer (``spacy.blank(lang)``); whitespace tokens are dropped."""

    def __init__(self, lang: str = "en") -> None:
        self.lang = lang

    @cached_property
    def _spacy(self):  # noqa: ANN202 - spacy.tokenizer.Tokenizer
        return spacy_tokenizer(self.lang)

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
            if len(words) > LONG_SENTENCE:  # a document, not a sentence: mark where its sentences start
                sentence.meta["sentence_starts"] = sentence_starts(doc, words)
            yield sentence


def sentence_starts(doc: Any, words: Sequence[Any]) -> list[int]:
    """Where spaCy's rule-based sentencizer starts sentences in ``doc``, as positions in ``words`` (its
    tokens that are not whitespace), after the first; the Doc itself is left as it is."""
    starts = _sentencizer().predict([doc])[0]
    return [n for n, token in enumerate(words) if n and starts[token.i]]


@cache
def _sentencizer():  # noqa: ANN202 - spacy.pipeline.Sentencizer, imported lazily (slow import)
    from spacy.pipeline import Sentencizer

    return Sentencizer()
