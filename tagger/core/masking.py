"""BERT-style masking of sentences for masked-token prediction (auxiliary loss and pretraining)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tagger.core.batching import IGNORE
from tagger.core.config import MaskedLMConfig
from tagger.core.types import Sentence
from tagger.core.vocab import MASK, SPECIALS, Vocab

UNLABELLED = ""  # a tag no task has: the token counts in no task's loss


def mask_sentences(
    sentences: Sequence[Sentence], vocab: Vocab, config: MaskedLMConfig, generator: torch.Generator
) -> tuple[list[Sentence], list[list[int]]]:
    """Copies of ``sentences`` with tokens chosen at ``config.rate`` blanked, and the targets.

    A chosen token becomes the mask token (``config.mask`` of the time), a random vocabulary
    word (``config.random``) or stays itself. The model sees only the changed tokens, so it
    cannot read a masked word through any direction or layer. Targets are the word ids of the
    chosen tokens and IGNORE elsewhere; words outside the vocabulary are never chosen. Chosen
    tokens drop out of the tagging losses of that step (their tags become ``UNLABELLED``).
    """
    total = sum(len(s) for s in sentences)
    draws = torch.rand(total, 2, generator=generator).tolist()
    first_word = len(SPECIALS)
    replacements = torch.randint(first_word, max(len(vocab.words), first_word + 1), (total,), generator=generator).tolist()
    masked, targets = [], []
    offset = 0
    for sentence in sentences:
        tokens, row = list(sentence.tokens), [IGNORE] * len(sentence)
        for i, token in enumerate(sentence.tokens):
            choose, action = draws[offset + i]
            if choose >= config.rate:
                continue
            target = vocab.word_id(token)
            if target == vocab.words.unk_id or token == MASK:
                continue
            row[i] = target
            if action < config.mask:
                tokens[i] = MASK
            elif action < config.mask + config.random and len(vocab.words) > first_word:
                tokens[i] = vocab.words.items[replacements[offset + i]]
        offset += len(sentence)
        chosen = {i for i, t in enumerate(row) if t != IGNORE}
        tags = {task: [UNLABELLED if i in chosen else tag for i, tag in enumerate(labels)] for task, labels in sentence.tags.items()}
        masked.append(Sentence(tokens, tags, meta=sentence.meta))
        targets.append(row)
    return masked, targets
