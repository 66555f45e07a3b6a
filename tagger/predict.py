"""Tagger: the predictor every front end uses. Text or tokens in, Predictions out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, overload

import torch

from tagger.batching import BatchEncoder, bucket_batches
from tagger.config import TaggerConfig
from tagger.nn.model import SequenceTagger
from tagger.schemes import convert, tags_to_spans
from tagger.tokenize import Tokenizer
from tagger.types import Prediction, Sentence, Span
from tagger.vocab import Vocab


class Tagger:
    """A trained model ready to label text.

    Args:
        model: the network (put in eval mode here).
        vocab: its vocabularies.
        config: the resolved config it was built from.
        meta: what ``meta.json`` recorded (scores, corpora, versions).
    """

    def __init__(self, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, meta: dict[str, Any] | None = None) -> None:
        self.model = model.eval()
        self.vocab = vocab
        self.config = config
        self.meta = meta or {}
        self.encoder = BatchEncoder(vocab, config.embeddings.max_word_chars)
        self.tokenizer = Tokenizer(config.lang)
        self.device = next(model.parameters()).device

    @classmethod
    def load(cls, directory: str | Path, device: str = "cpu") -> Tagger:
        """Load a model directory written by ``tagger train``."""
        from tagger.serialize import load_model

        model, vocab, config, meta = load_model(directory, device)
        return cls(model, vocab, config, meta)

    @property
    def tasks(self) -> list[str]:
        return list(self.config.tasks)

    @overload
    def predict(self, inputs: str, batch_size: int = ...) -> Prediction: ...
    @overload
    def predict(self, inputs: Sequence[str] | Sequence[Sequence[str]], batch_size: int = ...) -> list[Prediction]: ...

    def predict(self, inputs: Any, batch_size: int = 256) -> Prediction | list[Prediction]:
        """Label raw text or pre-tokenized sentences.

        Args:
            inputs: one string (raw text, tokenized with spaCy's tokenizer for the model's
                language), a list of such strings, or a list of token lists.
            batch_size: sentences per forward pass.

        Returns:
            A Prediction per input (one, for a single string): tokens, a label per token
            for every task (span tasks in BIO), and spans with character offsets for text.
        """
        if isinstance(inputs, str):
            return self.predict([inputs], batch_size)[0]
        sentences = [Sentence([], text=item) if isinstance(item, str) else Sentence(list(item)) for item in inputs]
        return list(self.predict_sentences(sentences, batch_size))

    def predict_sentences(self, sentences: Iterable[Sentence], batch_size: int = 256, window: int = 16) -> Iterator[Prediction]:
        """Stream Predictions in input order; length-sorted batches within windows of ``window`` batches."""
        stream = self.tokenizer.tokenize(sentences)
        while chunk := list(islice(stream, batch_size * window)):
            yield from self._predict_chunk(chunk, batch_size)

    @torch.inference_mode()
    def _predict_chunk(self, sentences: list[Sentence], batch_size: int) -> list[Prediction]:
        results: list[Prediction | None] = [None] * len(sentences)
        nonempty = [i for i, s in enumerate(sentences) if s.tokens]
        for i, sentence in enumerate(sentences):
            if not sentence.tokens:
                results[i] = self._to_prediction(sentence, {task: [] for task in self.tasks})
        lengths = [len(sentences[i]) for i in nonempty]
        for positions in bucket_batches(lengths, batch_size):
            members = [nonempty[p] for p in positions]
            batch = self.encoder.encode([sentences[i] for i in members], with_targets=False).to(self.device)
            outputs = self.model(batch, decode=True)
            ids = {task: out.ids.cpu().tolist() for task, out in outputs.items()}
            for row, index in enumerate(members):
                length = len(sentences[index])
                tags = {task: [self.vocab.labels[task].items[j] for j in ids[task][row][:length]] for task in self.tasks}
                results[index] = self._to_prediction(sentences[index], tags)
        return results  # type: ignore[return-value]

    def _to_prediction(self, sentence: Sentence, tags: dict[str, list[str]]) -> Prediction:
        spans: dict[str, list[Span]] = {}
        for task, task_config in self.config.tasks.items():
            if not task_config.scheme:
                continue
            found = tags_to_spans(tags[task], task_config.scheme)  # type: ignore[arg-type]
            tags[task] = convert(tags[task], task_config.scheme, "BIO")  # type: ignore[arg-type]
            if sentence.offsets:
                found = [Span(s.start, s.end, s.label, sentence.offsets[s.start][0], sentence.offsets[s.end - 1][1]) for s in found]
            spans[task] = found
        return Prediction(sentence.tokens, tags, spans, sentence.text, sentence.offsets, sentence.meta)
