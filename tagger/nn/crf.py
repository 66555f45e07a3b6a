"""Linear-chain CRF: batched forward algorithm, gold-path score and Viterbi, with transition constraints.

Forbidden transitions (e.g. O -> I-PER in BIO) get a large negative score in training
and decoding alike, so the model never spends probability on, or outputs, an invalid
sequence.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tagger.core.batching import IGNORE
from tagger.nn.heads import HeadOutput, soft_cross_entropy

FORBIDDEN = -10_000.0


class CRF(nn.Module):
    def __init__(
        self,
        num_labels: int,
        allowed: torch.Tensor | None = None,  # [labels, labels] bool: from -> to
        allowed_start: torch.Tensor | None = None,  # [labels] bool
        allowed_end: torch.Tensor | None = None,  # [labels] bool
    ) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.start = nn.Parameter(torch.zeros(num_labels))
        self.end = nn.Parameter(torch.zeros(num_labels))
        ones = torch.ones(num_labels, dtype=torch.bool)
        self.register_buffer("allowed", allowed if allowed is not None else torch.ones(num_labels, num_labels, dtype=torch.bool), persistent=False)
        self.register_buffer("allowed_start", allowed_start if allowed_start is not None else ones, persistent=False)
        self.register_buffer("allowed_end", allowed_end if allowed_end is not None else ones.clone(), persistent=False)

    def _scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        transitions = self.transitions.masked_fill(~self.allowed, FORBIDDEN)
        start = self.start.masked_fill(~self.allowed_start, FORBIDDEN)
        end = self.end.masked_fill(~self.allowed_end, FORBIDDEN)
        return transitions, start, end

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Z per sentence: emissions [batch, seq, labels], mask [batch, seq] -> [batch]."""
        transitions, start, end = self._scores()
        alpha = start + emissions[:, 0]  # [batch, labels]
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha[:, :, None] + transitions[None] + emissions[:, t, None, :], dim=1)
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """P(label at t | sentence) by forward-backward: [batch, seq, labels] (rows on padding are meaningless)."""
        return self.log_marginals(emissions, mask).exp()

    def log_marginals(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log P(label at t | sentence), differentiable: [batch, seq, labels] (rows on padding are meaningless)."""
        transitions, start, end = self._scores()
        alpha = start + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha[:, :, None] + transitions[None] + emissions[:, t, None, :], dim=1)
            alpha = torch.where(mask[:, t, None], step, alpha)
            alphas.append(alpha)
        log_z = torch.logsumexp(alpha + end, dim=1)  # [batch]
        beta = end.expand_as(alpha)  # at a sentence's last token: only the end transition follows
        betas = [beta]
        for t in range(emissions.shape[1] - 2, -1, -1):
            step = torch.logsumexp(transitions[None] + (emissions[:, t + 1] + beta)[:, None, :], dim=2)
            beta = torch.where(mask[:, t + 1, None], step, end.expand_as(step))
            betas.append(beta)
        betas.reverse()
        return torch.stack(alphas, 1) + torch.stack(betas, 1) - log_z[:, None, None]

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Score of the given label path per sentence: tags [batch, seq] (any id on padding) -> [batch]."""
        transitions, start, end = self._scores()
        maskf = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags[..., None]).squeeze(-1)  # [batch, seq]
        score = start[tags[:, 0]] + (emitted * maskf).sum(1)
        score = score + (transitions[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(1)
        last = tags.gather(1, (mask.sum(1) - 1).clamp(min=0)[:, None]).squeeze(1)
        return score + end[last]

    def negative_log_likelihood(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[batch] NLL of the gold paths."""
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)

    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Best label path per sentence: [batch, seq] ids (0 on padding)."""
        transitions, start, end = self._scores()
        score = start + emissions[:, 0]
        history = []
        for t in range(1, emissions.shape[1]):
            best, index = (score[:, :, None] + transitions[None]).max(dim=1)  # [batch, labels]
            score = torch.where(mask[:, t, None], best + emissions[:, t], score)
            history.append(index)
        last_position = mask.sum(1) - 1  # [batch]
        best_last = (score + end).argmax(-1)
        path = torch.zeros_like(mask, dtype=torch.long)
        current = best_last
        for t in range(emissions.shape[1] - 1, -1, -1):
            current = torch.where(last_position == t, best_last, current)
            path[:, t] = current
            if t > 0:
                previous = history[t - 1].gather(1, current[:, None]).squeeze(1)
                current = torch.where(last_position >= t, previous, current)
        return path.masked_fill(~mask, 0)


class CrfHead(nn.Module):
    """Projection to label scores followed by a CRF; same interface as SoftmaxHead."""

    def __init__(self, input_dim: int, num_labels: int, **constraints: torch.Tensor) -> None:
        super().__init__()
        self.projection = nn.Linear(input_dim, num_labels)
        self.crf = CRF(num_labels, **constraints)

    def forward(
        self, states: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor | None = None, decode: bool = False
    ) -> HeadOutput:
        logits = self.projection(states)
        loss = None
        if targets is not None:
            labelled = (targets != IGNORE).any(1)  # sentences that have this task's labels
            if bool(labelled.any()):
                rows_mask, gold, emissions = mask[labelled], targets[labelled], logits[labelled]
                unknown = (gold == IGNORE) & rows_mask  # tokens of a labelled sentence left unlabelled (e.g. masked)
                if bool(unknown.any()):
                    # Sum over every path that agrees with the known labels: free where unknown.
                    known = F.one_hot(gold.clamp(min=0), self.crf.num_labels).bool() | unknown[..., None]
                    agreeing = self.crf.log_partition(emissions.masked_fill(~known, FORBIDDEN), rows_mask)
                    nll = self.crf.log_partition(emissions, rows_mask) - agreeing
                else:
                    nll = self.crf.negative_log_likelihood(emissions, gold.clamp(min=0), rows_mask)
                loss = nll.sum() / rows_mask.sum()
        ids = self.crf.viterbi(logits, mask) if decode else None
        return HeadOutput(logits, loss, ids)

    def probabilities(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-token label marginals under the CRF: [batch, seq, labels]."""
        return self.crf.marginals(logits, mask)

    def soft_loss(self, logits: torch.Tensor, mask: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the CRF's marginals against ``wanted`` label distributions [batch, seq, labels], per token.
        Labels the scheme rules out where they stand (an I- first, say), which a softmax teacher may still give
        some probability, are left out of ``wanted``."""
        log_marginals = self.crf.log_marginals(logits, mask)
        wanted = wanted * (log_marginals.detach() > FORBIDDEN / 2)
        return soft_cross_entropy(log_marginals, mask, wanted / wanted.sum(-1, keepdim=True).clamp(min=1e-12))
