from __future__ import annotations

import torch

from tagger.nn.dropout import LockedDropout, sequence_dropout


def test_locked_dropout_drops_the_same_features_at_every_step() -> None:
    torch.manual_seed(0)
    dropout = LockedDropout(0.5).train()
    out = dropout(torch.ones(3, 7, 20))
    dropped = out == 0
    assert dropped.any() and not dropped.all()
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))  # one mask per sequence
    assert not torch.equal(dropped[0], dropped[1])  # each sequence its own
    assert torch.allclose(out[~dropped], torch.tensor(2.0))  # kept values scaled by 1 / (1 - p)


def test_locked_dropout_is_the_identity_in_evaluation() -> None:
    inputs = torch.randn(2, 5, 8)
    assert torch.equal(LockedDropout(0.5).eval()(inputs), inputs)
    assert isinstance(sequence_dropout(0.3, locked=False), torch.nn.Dropout)
