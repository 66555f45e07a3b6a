"""The masked-token head: encoder states -> a distribution over the word vocabulary.

With a large vocabulary an adaptive softmax (torch's ``AdaptiveLogSoftmaxWithLoss``) keeps it
fast: frequent words get the full state, rarer ones share smaller projections in clusters.
Word ids are ordered by frequency, which the adaptive softmax relies on.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MaskedWordHead(nn.Module):
    def __init__(self, input_dim: int, vocab_size: int, cutoffs: list[int]) -> None:
        super().__init__()
        cutoffs = sorted({c for c in cutoffs if 0 < c < vocab_size - 1})
        self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(input_dim, vocab_size, cutoffs, div_value=4.0) if cutoffs else None
        self.projection = None if cutoffs else nn.Linear(input_dim, vocab_size)

    def loss(self, states: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of ``targets`` [n] given ``states`` [n, input_dim]."""
        if self.adaptive is not None:
            return self.adaptive(states, targets).loss
        return F.cross_entropy(self.projection(states), targets)  # type: ignore[misc]

    def log_probs(self, states: torch.Tensor) -> torch.Tensor:
        """[n, vocab] log-probabilities of every word."""
        if self.adaptive is not None:
            return self.adaptive.log_prob(states)
        return self.projection(states).log_softmax(-1)  # type: ignore[misc]
