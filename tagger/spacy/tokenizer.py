"""A learned segmenter (:mod:`tagger.model.segmenter`) as a spaCy tokenizer: ``@tokenizers = "birnn_tagger.Segmenter.v1"``.

Registered through the ``spacy_tokenizers`` entry point, so a pipeline config names it after
``pip install``::

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "birnn_tagger.Segmenter.v1", "model": "models/zh"}}})

The Docs it makes hold the corpus's words (Vietnamese words keep their spaces) and the sentence
starts the segmenter found, so ``doc.sents`` works and the ``birnn_tagger`` component labels
sentence by sentence. ``nlp.to_disk`` keeps the segmenter's files in the pipeline's ``tokenizer/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import srsly
from spacy.tokens import Doc
from spacy.util import minibatch, registry

from tagger.core.errors import TaggerError
from tagger.spacy.component import unpack_files

if TYPE_CHECKING:
    from tagger.model.segmenter import Segmentation, Segmenter

TOKENIZER = "birnn_tagger.Segmenter.v1"


@registry.tokenizers(TOKENIZER)
def create_segmenter_tokenizer(model: Optional[str] = None, device: str = "cpu") -> Callable[[Any], SegmenterTokenizer]:
    """``model``: a model directory that carries a segmenter (``segmenter/``), or a segmenter's own. It may
    be left out when the pipeline is loaded from disk (the segmenter is inside)."""
    def create(nlp: Any) -> SegmenterTokenizer:
        return SegmenterTokenizer(nlp.vocab, model, device)

    return create


class SegmenterTokenizer:
    """Raw text -> a Doc of the words and sentences a learned segmenter finds."""

    def __init__(self, vocab: Any, model: str | Path | None = None, device: str = "cpu", batch_size: int = 64) -> None:
        self.vocab = vocab
        self.model_path = str(model) if model else None
        self.device = device
        self.batch_size = batch_size
        self._segmenter: Segmenter | None = None

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            if not self.model_path:
                raise TaggerError(f"tokenizer {TOKENIZER!r} has no segmenter: give it a model (a model directory with segmenter/) "
                                  "or load a pipeline saved with one")
            from tagger.model.segmenter import Segmenter

            self._segmenter = Segmenter.load(self.model_path, device=self.device)
        return self._segmenter

    def set_segmenter(self, segmenter: Segmenter) -> None:
        self._segmenter = segmenter

    def __call__(self, text: str) -> Doc:
        return self._doc(text, self.segmenter.segment([text])[0])

    def pipe(self, texts: Iterable[str], batch_size: int | None = None) -> Iterator[Doc]:
        for batch in minibatch(texts, size=batch_size or self.batch_size):
            yield from map(self._doc, batch, self.segmenter.segment(batch))

    def _doc(self, text: str, found: Segmentation) -> Doc:
        """The words as tokens; whitespace between them as spaCy keeps it (one space after a token, more as a
        token of its own), so that ``doc.text`` is ``text``."""
        words: list[str] = []
        spaces: list[bool] = []
        starts: list[bool] = []
        firsts = set(found.sentence_starts)

        def gap(space: str) -> None:
            if space and words and not spaces[-1] and space[0] == " ":
                spaces[-1], space = True, space[1:]
            if space:
                words.append(space)
                spaces.append(False)
                starts.append(False)

        end = 0
        for index, (start, stop) in enumerate(found.words):
            gap(text[end:start])
            words.append(text[start:stop])
            spaces.append(False)
            starts.append(index in firsts)
            end = stop
        gap(text[end:])
        if starts and not starts[0]:  # leading whitespace: its token starts the first sentence, the first word continues it
            starts[0], starts[1:2] = True, [False] * len(starts[1:2])
        return Doc(self.vocab, words=words, spaces=spaces, sent_starts=starts or None)

    # Serialization: the segmenter's files travel inside the pipeline.

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        from tagger.model.serialize import write_files

        write_files(path, self.segmenter.model.files())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> SegmenterTokenizer:
        from tagger.model.segmenter import Segmenter

        self._segmenter = Segmenter.load(path, device=self.device)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        return srsly.msgpack_dumps(self.segmenter.model.files())

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> SegmenterTokenizer:
        from tagger.model.segmenter import Segmenter

        owner = f"tokenizer {TOKENIZER!r}"
        self._segmenter = Segmenter.from_files(unpack_files(data, owner, "segmenter"), owner, device=self.device)
        return self
