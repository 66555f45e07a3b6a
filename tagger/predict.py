"""Tagger: the predictor every front end uses. Text or tokens in, Predictions out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, overload

import torch

from tagger.batching import BatchEncoder, sorted_batches
from tagger.config import TaggerConfig
from tagger.nn.heads import HeadOutput
from tagger.nn.model import SequenceTagger
from tagger.schemes import convert, tags_to_spans
from tagger.tokenize import Tokenizer
from tagger.types import Prediction, Sentence, Span
from tagger.vocab import Vocab

# Padded tokens per forward pass at most: batches of long sentences get fewer rows.
MAX_BATCH_TOKENS = 2048


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
    def predict(self, inputs: str, batch_size: int = ..., scores: bool = ...) -> Prediction: ...
    @overload
    def predict(self, inputs: Sequence[str] | Sequence[Sequence[str]], batch_size: int = ..., scores: bool = ...) -> list[Prediction]: ...

    def predict(self, inputs: Any, batch_size: int = 256, scores: bool = False) -> Prediction | list[Prediction]:
        """Label raw text or pre-tokenized sentences.

        Args:
            inputs: one string (raw text, tokenized with spaCy's tokenizer for the model's
                language), a list of such strings, or a list of token lists.
            batch_size: sentences per forward pass.
            scores: also give each token's probability of its label, per task (softmax
                probability, or the CRF's marginal probability for CRF tasks).

        Returns:
            A Prediction per input (one, for a single string): tokens, a label per token
            for every task (span tasks in BIO), and spans with character offsets for text.
        """
        if isinstance(inputs, str):
            return self.predict([inputs], batch_size, scores)[0]
        sentences = [Sentence([], text=item) if isinstance(item, str) else Sentence(list(item)) for item in inputs]
        return list(self.predict_sentences(sentences, batch_size, scores=scores))

    def predict_sentences(
        self, sentences: Iterable[Sentence], batch_size: int = 256, window: int = 16, scores: bool = False
    ) -> Iterator[Prediction]:
        """Stream Predictions in input order, reading ``batch_size * window`` sentences at a time."""
        stream = self.tokenizer.tokenize(sentences)
        while chunk := list(islice(stream, batch_size * window)):
            yield from self.label_sentences(chunk, batch_size, scores)

    @torch.inference_mode()
    def label_sentences(
        self, sentences: list[Sentence], batch_size: int = 256, scores: bool = False, max_tokens: int = MAX_BATCH_TOKENS
    ) -> list[Prediction]:
        """Label tokenized sentences in one go: sorted by length and cut into batches of at most
        ``batch_size`` sentences and ``max_tokens`` padded tokens. Predictions in input order."""
        results: list[Prediction | None] = [None] * len(sentences)
        nonempty = [i for i, s in enumerate(sentences) if s.tokens]
        for i, sentence in enumerate(sentences):
            if not sentence.tokens:
                nothing: dict[str, list] = {task: [] for task in self.tasks}
                results[i] = self._to_prediction(sentence, nothing, dict(nothing) if scores else {})
        lengths = [len(sentences[i]) for i in nonempty]
        for positions in sorted_batches(lengths, batch_size, max_tokens):
            members = [nonempty[p] for p in positions]
            batch = self.encoder.encode([sentences[i] for i in members], with_targets=False).to(self.device)
            outputs = self.model(batch, decode=True)
            ids = {task: out.ids.cpu().tolist() for task, out in outputs.items()}
            probabilities = {task: self._label_probabilities(task, out, batch.mask) for task, out in outputs.items()} if scores else {}
            for row, index in enumerate(members):
                length = len(sentences[index])
                tags = {task: [self.vocab.labels[task].items[j] for j in ids[task][row][:length]] for task in self.tasks}
                token_scores = {task: values[row][:length] for task, values in probabilities.items()}
                results[index] = self._to_prediction(sentences[index], tags, token_scores)
        return results  # type: ignore[return-value]

    def _label_probabilities(self, task: str, output: HeadOutput, mask: torch.Tensor) -> list[list[float]]:
        """Each token's probability of the label it was given: [batch][seq]."""
        distribution = self.model.heads[task].probabilities(output.logits, mask)
        return distribution.gather(2, output.ids[..., None]).squeeze(-1).clamp(max=1.0).cpu().tolist()

    def _to_prediction(self, sentence: Sentence, tags: dict[str, list[str]], scores: dict[str, list[float]] | None = None) -> Prediction:
        spans: dict[str, list[Span]] = {}
        for task, task_config in self.config.tasks.items():
            if not task_config.scheme:
                continue
            found = tags_to_spans(tags[task], task_config.scheme)  # type: ignore[arg-type]
            tags[task] = convert(tags[task], task_config.scheme, "BIO")  # type: ignore[arg-type]
            if sentence.offsets:
                found = [Span(s.start, s.end, s.label, sentence.offsets[s.start][0], sentence.offsets[s.end - 1][1]) for s in found]
            spans[task] = found
        return Prediction(sentence.tokens, tags, spans, sentence.text, sentence.offsets, sentence.meta, scores or {})
