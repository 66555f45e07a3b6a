"""The character LM head: the sentence-level character LSTM's states -> the next character
(forward states) and the previous one (backward states), over the character vocabulary.

Each direction has read only its own side, so neither sees the character it predicts.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tagger.core.batching import IGNORE, CharStream


class CharLMHead(nn.Module):
    def __init__(self, hidden: int, num_chars: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.forward_projection = nn.Linear(hidden, num_chars)
        self.backward_projection = nn.Linear(hidden, num_chars)

    def loss(self, states: torch.Tensor, stream: CharStream) -> torch.Tensor:
        """Mean of the two directions' negative log-likelihoods, each over every character but a row's first
        (``CharStream.num_predicted``). ``states``: [batch, chars, 2 * hidden]."""
        ids = stream.ids
        follows = ids[:, 1:] != 0  # position t + 1 is inside the row
        next_chars = ids[:, 1:].masked_fill(~follows, IGNORE)  # what the forward state at t predicts
        previous_chars = ids[:, :-1].masked_fill(~follows, IGNORE)  # what the backward state at t + 1 predicts
        forward = self.forward_projection(states[:, :-1, : self.hidden])
        backward = self.backward_projection(states[:, 1:, self.hidden :])
        return (F.cross_entropy(forward.flatten(0, 1), next_chars.flatten(), ignore_index=IGNORE)
                + F.cross_entropy(backward.flatten(0, 1), previous_chars.flatten(), ignore_index=IGNORE)) / 2
