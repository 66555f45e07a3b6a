"""Dropout over [batch, seq, features]: per element, or locked (one mask per sequence).

Locked (variational) dropout drops the same features at every step of a sentence (Gal &
Ghahramani 2016), which Reimers & Gurevych (2017) found better than per-element dropout for
BiLSTM taggers. It is applied to the encoder's inputs, between its layers and to its outputs;
the recurrent weights are left alone so that torch's fused LSTM kernels still run.
"""

from __future__ import annotations

import torch
from torch import nn


class LockedDropout(nn.Module):
    """Drop features with probability ``p``, the same ones at every step of a sequence. [batch, seq, features]"""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return inputs
        keep = torch.empty(inputs.shape[0], 1, inputs.shape[2], device=inputs.device, dtype=inputs.dtype).bernoulli_(1.0 - self.p)
        return inputs * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def sequence_dropout(p: float, locked: bool) -> nn.Module:
    """Dropout for [batch, seq, features] tensors: locked (one mask per sequence) or per element."""
    return LockedDropout(p) if locked else nn.Dropout(p)
