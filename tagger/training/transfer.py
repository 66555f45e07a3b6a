"""What a training takes over from elsewhere: pretrained word vectors (the vocabulary they extend,
the rows they start, their reach) and, with ``init_from``, another model's embeddings and encoder.

The vocabulary is the training words (those rarer than ``min_freq`` too, when they have a vector)
plus the vectors' first ``max_vectors`` words, which are the most frequent in the usual files:
they let the model know words it never saw in training. Each word's row starts from the vector
of its exact key, else of its lower-cased, digit-folded key (see :meth:`WordVectors.find`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tagger.core.config import TaggerConfig
from tagger.core.errors import ConfigError
from tagger.core.types import Sentence
from tagger.core.vocab import SPECIALS, Vocab, word_key
from tagger.data.vectors import WordVectors, read_vectors
from tagger.model.serialize import LoadedModel, load_model
from tagger.nn.model import SequenceTagger
from tagger.training.checkpoint import checkpoint_vocab

logger = logging.getLogger(__name__)


@dataclass
class VectorRows:
    """The vocabulary ids that have a pretrained vector, and those vectors."""

    ids: list[int]
    matrix: np.ndarray  # [len(ids), dim]
    source: str
    total: int  # vectors in the source
    seconds: float  # reading them

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def start(self, table: torch.Tensor, *, fill: bool) -> None:
        """Copy the vectors into their rows of an embedding table (``fill``; not when resuming).
        ``freeze_vectors`` is :func:`tagger.training.loop.trainable_rows`'s to apply."""
        if fill:
            with torch.no_grad():
                table[torch.tensor(self.ids, dtype=torch.long, device=table.device)] = torch.from_numpy(self.matrix).to(table)


def build_vocabulary(config: TaggerConfig, sentences: Sequence[Sentence], checkpoint: Path | None = None,
                     base: Vocab | None = None, lexicon: Sequence[str] = ()) -> tuple[Vocab, VectorRows | None]:
    """The vocabulary (the checkpoint's when resuming, else counted from ``sentences`` after the
    words of ``base``, with a segmenter's ``lexicon``) and, with ``embeddings.pretrained``, the rows its vectors start."""
    embeddings = config.embeddings
    lowercase = base.lowercase if base is not None else embeddings.lowercase
    vocab = checkpoint_vocab(checkpoint) if checkpoint else None
    vectors = None
    if embeddings.pretrained:
        wanted = vocab.words.items if vocab is not None else {word_key(t, lowercase) for s in sentences for t in s.tokens}
        vectors = read_vectors(embeddings.pretrained, wanted, top=embeddings.max_vectors if vocab is None else 0)
        if embeddings.word_dim and embeddings.word_dim != vectors.dim:
            raise ConfigError("embeddings.word_dim", f"is {embeddings.word_dim}, but the vectors {embeddings.pretrained} have "
                              f"{vectors.dim} values each; leave word_dim out to take theirs")
    if vocab is None:
        added: list[str] = []
        with_vector: set[str] = set()
        if vectors is not None:
            added = [word_key(w, lowercase) for w in vectors.words[:embeddings.max_vectors]]
            with_vector = {w for w in wanted if vectors.find(w) is not None}
        vocab = Vocab.build(sentences, config.tasks, embeddings.min_freq, embeddings.lowercase, added, embeddings.max_words,
                            base, keep_rare=with_vector, features=embeddings.features, lexicon=lexicon)
        unlabelled = [task for task, labels in vocab.labels.items() if not len(labels)]
        if unlabelled:
            others = f" (nor for {', '.join(unlabelled[1:])})" if unlabelled[1:] else ""
            raise ConfigError("tasks." + unlabelled[0], f"no training sentence has labels for this task{others}; "
                              "map it to a column of the corpus, e.g. data.train = { path = ..., columns = { upos = 1 } }")
    # A model started from another (init_from) keeps that one's word rows: they were trained with its encoder.
    first = len(base.words) if base is not None else 0
    return vocab, (vector_rows(vectors, vocab, first) if vectors is not None else None)


def vector_rows(vectors: WordVectors, vocab: Vocab, first: int = 0) -> VectorRows:
    """The rows of ``vocab`` from ``first`` on that have a vector, and their vectors."""
    ids, rows = [], []
    for word_id, word in enumerate(vocab.words.items[first:], start=first):
        row = vectors.find(word) if word not in SPECIALS else None
        if row is not None:
            ids.append(word_id)
            rows.append(row)
    return VectorRows(ids, vectors.matrix[rows], vectors.source, vectors.total, vectors.seconds)


def coverage(sentences: Sequence[Sentence], vocab: Vocab, rows: VectorRows) -> dict[str, Any]:
    """How much of the training text the vectors reach: shares of tokens and of distinct forms
    whose vocabulary row starts from a vector."""
    covered = set(rows.ids)
    forms: dict[str, bool] = {}
    tokens = found = 0
    for sentence in sentences:
        for token in sentence.tokens:
            hit = forms.get(token)
            if hit is None:
                hit = forms[token] = vocab.word_id(token) in covered
            tokens += 1
            found += hit
    return {
        "source": rows.source, "dim": rows.dim, "vectors": rows.total, "words_with_vectors": len(rows.ids),
        "training_tokens": round(found / max(tokens, 1), 4),
        "training_types": round(sum(forms.values()) / max(len(forms), 1), 4), "types": len(forms),
    }


def describe_coverage(report: dict[str, Any], vocab: Vocab, seconds: float) -> str:
    return (f"vectors {report['source']}: {report['vectors']:,} x {report['dim']} read in {seconds:.1f}s; "
            f"{report['words_with_vectors']:,} of {len(vocab.words):,} vocabulary words start from one; they cover "
            f"{100 * report['training_tokens']:.1f}% of training tokens and {100 * report['training_types']:.1f}% "
            f"of their {report['types']:,} distinct forms")


# Settings that shape the pretrained tensors: a model started from another takes them over.
ARCHITECTURE = {"embeddings": ("word_dim", "lowercase", "char_encoder", "char_dim", "char_hidden", "char_kernel", "max_word_chars"),
                "encoder": ("kind", "hidden_size", "num_layers")}


def load_base(config: TaggerConfig) -> LoadedModel:
    """The model ``init_from`` names, whose embeddings and encoder start this one; ConfigError for an ensemble."""
    base = load_model(config.init_from)
    if base.members:
        raise ConfigError("init_from", f"{config.init_from} is an ensemble: name one of its models (its member-N folders)")
    return base


def take_architecture(config: TaggerConfig, pretrained: TaggerConfig) -> TaggerConfig:
    """The config with its embedding and encoder shapes set to the pretrained model's (dropout etc. stay)."""
    sections = {}
    for section, keys in ARCHITECTURE.items():
        changed = {}
        for key in keys:
            value = getattr(getattr(pretrained, section), key)
            if getattr(getattr(config, section), key) != value:
                logger.info("init_from: %s.%s = %r (the pretrained model's)", section, key, value)
                changed[key] = value
        sections[section] = dataclasses.replace(getattr(config, section), **changed)
    return dataclasses.replace(config, **sections)


def copy_pretrained(source: SequenceTagger, target: SequenceTagger) -> int:
    """Copy the embeddings and encoder of ``source`` into ``target``; returns the tensors copied.

    Embedding tables copy the rows of the pretrained vocabulary, which comes first in the
    target's (see ``Vocab.build(base=...)``); new words keep their fresh initialisation.
    """
    copied = 0
    for part in ("embeddings", "encoder"):
        theirs = getattr(source, part).state_dict()
        with torch.no_grad():
            for name, tensor in getattr(target, part).state_dict().items():
                pretrained = theirs.get(name)
                if pretrained is None:
                    continue
                if pretrained.shape == tensor.shape:
                    tensor.copy_(pretrained)
                elif pretrained.shape[1:] == tensor.shape[1:] and pretrained.shape[0] <= tensor.shape[0]:
                    tensor[: pretrained.shape[0]].copy_(pretrained)
                else:
                    raise ConfigError("init_from", f"{part}.{name} has shape {tuple(pretrained.shape)} there and {tuple(tensor.shape)} here")
                copied += 1
    return copied
