"""Several networks of the same tasks and vocabulary that label together.

Each task's members are combined per token: softmax heads by their mean label distribution; CRF
heads either by one CRF whose emissions and transitions are the members' means (``emissions``:
Viterbi over it), or by the mean of the members' marginals (``marginals``: the best path through
them that the scheme allows). The members read the same batch, so they must share the vocabulary
and the way a batch is made (:func:`tagger.model.serialize.check_members` says so when they do not).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from tagger.core.batching import Batch
from tagger.nn.crf import CRF, CrfHead
from tagger.nn.heads import HeadOutput
from tagger.nn.model import SequenceTagger

CrfCombination = Literal["emissions", "marginals"]
CRF_COMBINATIONS: tuple[CrfCombination, ...] = ("emissions", "marginals")


class MeanDistribution(nn.Module):
    """A task whose members each give a label distribution per token (softmax heads, or CRF marginals
    with ``marginals``): their mean. ``scores`` are its logarithm; decoding is the likeliest label, or for
    CRF tasks the likeliest path the scheme allows (``path``: a CRF with no transition scores)."""

    def __init__(self, heads: list[nn.Module], path: CRF | None = None) -> None:
        super().__init__()
        self.members = heads  # not submodules: the ensemble holds them
        self.path = path

    def combine(self, scores: list[torch.Tensor], mask: torch.Tensor, decode: bool) -> HeadOutput:
        mean = torch.stack([head.probabilities(s, mask) for head, s in zip(self.members, scores)]).mean(0)
        logs = mean.clamp(min=1e-30).log()
        ids = None
        if decode:
            ids = self.path.viterbi(logs, mask) if self.path is not None else logs.argmax(-1).masked_fill(~mask, 0)
        return HeadOutput(logs, None, ids)

    def probabilities(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return scores.softmax(-1)


class MeanCrf(nn.Module):
    """A CRF task combined as one CRF: the members' mean emissions, under their mean transitions."""

    def __init__(self, heads: list[CrfHead]) -> None:
        super().__init__()
        first = heads[0].crf
        self.crf = CRF(first.num_labels, first.allowed, first.allowed_start, first.allowed_end)
        with torch.no_grad():
            for name in ("transitions", "start", "end"):
                getattr(self.crf, name).copy_(torch.stack([getattr(h.crf, name) for h in heads]).mean(0))
        self.crf.requires_grad_(False)

    def combine(self, scores: list[torch.Tensor], mask: torch.Tensor, decode: bool) -> HeadOutput:
        emissions = torch.stack(scores).mean(0)
        return HeadOutput(emissions, None, self.crf.viterbi(emissions, mask) if decode else None)

    def probabilities(self, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.crf.marginals(scores, mask)


class EnsembleModel(nn.Module):
    """Members that label together; looks like a :class:`SequenceTagger` to :class:`tagger.model.predict.Tagger`
    (``heads[task].probabilities``, ``precision``), without a masked-token head."""

    masked_lm = None

    def __init__(self, members: list[SequenceTagger], crf: CrfCombination = "emissions") -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs two members or more, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.crf = crf
        heads: dict[str, nn.Module] = {}
        for task, head in members[0].heads.items():
            own = [member.heads[task] for member in members]
            if not isinstance(head, CrfHead):
                heads[task] = MeanDistribution(own)
            elif crf == "emissions":
                heads[task] = MeanCrf(own)  # type: ignore[arg-type]
            else:
                path = CRF(head.crf.num_labels, head.crf.allowed, head.crf.allowed_start, head.crf.allowed_end).requires_grad_(False)
                heads[task] = MeanDistribution(own, path)
        self.heads = nn.ModuleDict(heads)

    @property
    def precision(self) -> str:
        return self.members[0].precision  # type: ignore[return-value]

    def set_precision(self, precision: str, threads: int | None = None) -> None:
        for member in self.members:
            member.set_precision(precision, threads)  # type: ignore[operator]

    def forward(self, batch: Batch, decode: bool = False) -> dict[str, HeadOutput]:
        outputs = [member(batch) for member in self.members]
        return {task: head.combine([out[task].scores for out in outputs], batch.mask, decode)  # type: ignore[operator]
                for task, head in self.heads.items()}
