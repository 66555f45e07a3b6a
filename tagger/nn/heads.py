"""Per-task output heads with one interface: states + mask (+ targets) -> HeadOutput."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tagger.core.batching import IGNORE


@dataclass
class HeadOutput:
    """What a head gives: a tagging head its label scores, loss and decoded ids; a language-model head
    (masked-token, character) its loss alone."""

    scores: torch.Tensor | None  # [batch, seq, labels]: a tagging head's unnormalized label scores (logits)
    loss: torch.Tensor | None = None  # scalar, mean per labelled token
    ids: torch.Tensor | None = None  # [batch, seq] decoded label ids (0 on padding)


class SoftmaxHead(nn.Module):
    """Independent per-token classification."""

    def __init__(self, input_dim: int, num_labels: int) -> None:
        super().__init__()
        self.projection = nn.Linear(input_dim, num_labels)

    def forward(
        self, states: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor | None = None, decode: bool = False
    ) -> HeadOutput:
        logits = self.projection(states)
        loss = None
        if targets is not None and bool((targets != IGNORE).any()):
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
        ids = logits.argmax(-1).masked_fill(~mask, 0) if decode else None
        return HeadOutput(logits, loss, ids)

    def probabilities(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token label distributions: [batch, seq, labels]."""
        return logits.softmax(-1)

    def soft_loss(self, logits: torch.Tensor, mask: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the label distributions against ``wanted`` ones [batch, seq, labels], per token."""
        return soft_cross_entropy(logits.log_softmax(-1), mask, wanted)


def soft_cross_entropy(log_probabilities: torch.Tensor, mask: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens of -sum(wanted * log_probabilities): [batch, seq, labels] each, mask [batch, seq]."""
    per_token = -(wanted * log_probabilities.clamp(min=-1e4)).sum(-1)  # clamp: a forbidden label's -inf times 0
    return (per_token * mask).sum() / mask.sum().clamp(min=1)
