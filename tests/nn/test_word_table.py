"""The partly trained word table: looks up as nn.Embedding, saves and loads as one weight, trains only its rows."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tagger.nn.word_table import PartlyTrainedTable


@pytest.fixture
def table() -> tuple[nn.Embedding, PartlyTrainedTable]:
    torch.manual_seed(0)
    dense = nn.Embedding(10, 4, padding_idx=0)
    trainable = torch.tensor([False, True, False, True, True, False, False, True, False, False])
    return dense, PartlyTrainedTable(dense.weight, trainable)


def test_lookups_are_the_dense_tables(table: tuple[nn.Embedding, PartlyTrainedTable]) -> None:
    dense, split = table
    ids = torch.tensor([[0, 1, 2, 3], [9, 8, 7, 4]])
    assert torch.equal(split(ids), dense(ids))
    assert split.trained.shape == (4, 4) and torch.equal(split.weight, dense.weight.detach())


def test_only_trainable_rows_get_a_gradient_and_change(table: tuple[nn.Embedding, PartlyTrainedTable]) -> None:
    dense, split = table
    before = split.weight.clone()
    optimizer = torch.optim.AdamW(split.parameters(), lr=0.1, weight_decay=0.0)
    for _ in range(3):
        optimizer.zero_grad()
        split(torch.tensor([[1, 2, 3, 5]])).pow(2).sum().backward()
        optimizer.step()
    changed = (split.weight != before).any(1)
    assert changed.tolist() == [False, True, False, True, False, False, False, False, False, False]  # 2, 5: looked up, not trainable


def test_state_dict_is_one_weight_and_loads_back(table: tuple[nn.Embedding, PartlyTrainedTable]) -> None:
    dense, split = table
    state = split.state_dict()
    assert list(state) == ["weight"] and torch.equal(state["weight"], dense.weight.detach())
    other = PartlyTrainedTable(torch.zeros(10, 4), split.trainable)
    other.load_state_dict({"weight": dense.weight.detach() * 2})
    assert torch.equal(other.weight, dense.weight.detach() * 2)
    plain = nn.Embedding(10, 4)
    plain.load_state_dict(state)  # what a model file holds: an nn.Embedding reads it
    with pytest.raises(RuntimeError, match="size mismatch"):
        other.load_state_dict({"weight": torch.zeros(11, 4)})
