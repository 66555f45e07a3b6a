"""A word table of which only some rows train.

Pretrained vectors bring a large table (200,000 words x 300 values is 60M weights) of which a
training run only ever looks up the rows of its training words. The rows it never looks up get no
gradient, and with Adam(W) and no weight decay an update leaves them as they are; yet a dense table
costs every step its whole size: the gradient, the optimiser's moments and its update, clipping.
:class:`PartlyTrainedTable` keeps the rows that can learn as a parameter and the others as a fixed
buffer, so that a step costs what the batch's rows cost. It reads and writes its state as the one
``weight`` of an ``nn.Embedding``: model files do not change. (A checkpoint's optimiser state holds the
trained rows only: one written before, with the whole table, cannot be resumed.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class PartlyTrainedTable(nn.Module):
    """An embedding table whose rows where ``trainable`` is True are a parameter (``trained``) and the
    others a buffer (``fixed``); looks up like ``nn.Embedding``. Row 0 (padding) is never trained."""

    def __init__(self, weight: torch.Tensor, trainable: torch.Tensor) -> None:
        super().__init__()
        trainable = trainable.to(device=weight.device, dtype=torch.bool).clone()
        trainable[0] = False
        slot = torch.empty(weight.shape[0], dtype=torch.long, device=weight.device)
        slot[trainable] = torch.arange(int(trainable.sum()), device=weight.device)
        slot[~trainable] = torch.arange(int((~trainable).sum()), device=weight.device)
        self.num_embeddings, self.embedding_dim = weight.shape
        self.trained = nn.Parameter(weight.detach()[trainable].clone())
        self.register_buffer("fixed", weight.detach()[~trainable].clone(), persistent=False)
        self.register_buffer("slot", slot, persistent=False)  # row -> its position in trained or fixed
        self.register_buffer("trainable", trainable, persistent=False)
        self.register_state_dict_post_hook(_as_one_weight)
        self.register_load_state_dict_pre_hook(_from_one_weight)

    @property
    def weight(self) -> torch.Tensor:
        """The whole table, [rows, dim] (a copy; not a parameter)."""
        table = self.fixed.new_empty(self.num_embeddings, self.embedding_dim)
        table[self.trainable] = self.trained.detach()
        table[~self.trainable] = self.fixed
        return table

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        slots, trained = self.slot[ids], self.trainable[ids]
        learned = F.embedding(slots.masked_fill(~trained, 0), self.trained)
        kept = F.embedding(slots.masked_fill(trained, 0), self.fixed)
        return torch.where(trained[..., None], learned, kept)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, trained rows={self.trained.shape[0]}"


def _as_one_weight(module: PartlyTrainedTable, state: dict[str, Any], prefix: str, _metadata: Any) -> None:
    del state[prefix + "trained"]
    state[prefix + "weight"] = module.weight


def _from_one_weight(module: PartlyTrainedTable, state: dict[str, Any], prefix: str, *_: Any) -> None:
    if prefix + "weight" not in state:
        return  # load_state_dict reports the missing key
    weight = state.pop(prefix + "weight")
    if tuple(weight.shape) != (module.num_embeddings, module.embedding_dim):
        state[prefix + "trained"] = weight  # the shape error names the key
        return
    state[prefix + "trained"] = weight[module.trainable.to(weight.device)]
    with torch.no_grad():
        module.fixed.copy_(weight[~module.trainable.to(weight.device)])
