"""Linear-chain CRF checked against brute-force enumeration of all label paths."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagger.core.batching import IGNORE
from tagger.core.schemes import allowed_transition
from tagger.nn.crf import CRF, CrfHead
from tagger.nn.model import transition_constraints

SETTINGS = settings(max_examples=25, deadline=None)
BATCH, SEQ = 3, 4


def random_case(seed: int, num_labels: int, lengths: list[int], constraints: dict | None = None):
    generator = torch.Generator().manual_seed(seed)
    crf = CRF(num_labels, **(constraints or {})).double()
    with torch.no_grad():
        crf.transitions.copy_(torch.randn(num_labels, num_labels, generator=generator, dtype=torch.double))
        crf.start.copy_(torch.randn(num_labels, generator=generator, dtype=torch.double))
        crf.end.copy_(torch.randn(num_labels, generator=generator, dtype=torch.double))
    emissions = torch.randn(len(lengths), SEQ, num_labels, generator=generator, dtype=torch.double) * 2
    mask = torch.arange(SEQ)[None, :] < torch.tensor(lengths)[:, None]
    return crf, emissions, mask


def brute_scores(crf: CRF, emissions: torch.Tensor, paths) -> list[float]:
    """Score of each path over one sentence's unpadded emissions [length, labels], from the raw parameters."""
    start, end, transitions = crf.start.tolist(), crf.end.tolist(), crf.transitions.tolist()
    emitted = emissions.detach().tolist()
    return [
        start[path[0]] + end[path[-1]]
        + sum(emitted[t][label] for t, label in enumerate(path))
        + sum(transitions[a][b] for a, b in zip(path, path[1:]))
        for path in paths
    ]


def path_allowed(path: tuple[int, ...], labels: list[str], scheme: str) -> bool:
    tags = ["", *(labels[i] for i in path), ""]
    return all(allowed_transition(a, b, scheme) for a, b in zip(tags, tags[1:]))


def all_paths(length: int, num_labels: int):
    return itertools.product(range(num_labels), repeat=length)


lengths_strategy = st.lists(st.integers(1, SEQ), min_size=BATCH, max_size=BATCH).filter(lambda xs: len(set(xs)) > 1)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(3, 4), lengths_strategy)
def test_log_partition_matches_brute_force(seed, num_labels, lengths):
    crf, emissions, mask = random_case(seed, num_labels, lengths)
    log_z = crf.log_partition(emissions, mask)
    assert log_z.shape == (BATCH,)
    for row, length in enumerate(lengths):
        scores = brute_scores(crf, emissions[row], all_paths(length, num_labels))
        expected = torch.logsumexp(torch.tensor(scores, dtype=torch.double), 0).item()
        assert log_z[row].item() == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(3, 4), lengths_strategy)
def test_marginals_match_brute_force(seed, num_labels, lengths):
    crf, emissions, mask = random_case(seed, num_labels, lengths)
    marginals = crf.marginals(emissions, mask)
    for row, length in enumerate(lengths):
        paths = list(all_paths(length, num_labels))
        weights = torch.tensor(brute_scores(crf, emissions[row], paths), dtype=torch.double).softmax(0)
        expected = torch.zeros(length, num_labels, dtype=torch.double)
        for weight, path in zip(weights, paths):
            expected[torch.arange(length), torch.tensor(path)] += weight
        assert torch.allclose(marginals[row, :length], expected, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(3, 4), lengths_strategy)
def test_padding_emissions_do_not_matter(seed, num_labels, lengths):
    crf, emissions, mask = random_case(seed, num_labels, lengths)
    noisy = emissions.masked_fill(~mask[..., None], 1e3)
    assert torch.allclose(crf.log_partition(emissions, mask), crf.log_partition(noisy, mask))
    assert torch.equal(crf.viterbi(emissions, mask), crf.viterbi(noisy, mask))


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(3, 4), lengths_strategy)
def test_path_score_matches_brute_force(seed, num_labels, lengths):
    crf, emissions, mask = random_case(seed, num_labels, lengths)
    generator = torch.Generator().manual_seed(seed + 1)
    tags = torch.randint(0, num_labels, (BATCH, SEQ), generator=generator)  # junk ids on padding too
    scores = crf.path_score(emissions, tags, mask)
    for row, length in enumerate(lengths):
        path = tuple(tags[row, :length].tolist())
        assert scores[row].item() == pytest.approx(brute_scores(crf, emissions[row], [path])[0], abs=1e-9)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(3, 4), lengths_strategy)
def test_viterbi_matches_brute_force(seed, num_labels, lengths):
    crf, emissions, mask = random_case(seed, num_labels, lengths)
    best = crf.viterbi(emissions, mask)
    assert best.shape == (BATCH, SEQ) and best.dtype == torch.long
    for row, length in enumerate(lengths):
        paths = list(all_paths(length, num_labels))
        scores = brute_scores(crf, emissions[row], paths)
        expected = paths[max(range(len(paths)), key=scores.__getitem__)]
        assert tuple(best[row, :length].tolist()) == expected
        assert best[row, length:].tolist() == [0] * (SEQ - length)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(3, 4), lengths_strategy)
def test_nll_non_negative_with_finite_gradient(seed, num_labels, lengths):
    crf, emissions, mask = random_case(seed, num_labels, lengths)
    emissions.requires_grad_(True)
    generator = torch.Generator().manual_seed(seed + 2)
    tags = torch.randint(0, num_labels, (BATCH, SEQ), generator=generator)
    nll = crf.negative_log_likelihood(emissions, tags, mask)
    assert nll.shape == (BATCH,)
    assert (nll >= -1e-9).all()
    nll.sum().backward()
    for grad in (emissions.grad, crf.transitions.grad, crf.start.grad, crf.end.grad):
        assert grad is not None and torch.isfinite(grad).all()
    assert emissions.grad.abs().sum() > 0
    # Padded positions get no gradient: they are not part of any sentence.
    assert (emissions.grad[~mask] == 0).all()


def test_nll_of_best_path_is_smallest():
    crf, emissions, mask = random_case(7, 3, [4, 3, 1])
    best = crf.viterbi(emissions, mask)
    best_nll = crf.negative_log_likelihood(emissions, best, mask)
    for row, length in enumerate([4, 3, 1]):
        for path in all_paths(length, 3):
            tags = best.clone()
            tags[row, :length] = torch.tensor(path)
            assert crf.negative_log_likelihood(emissions, tags, mask)[row] >= best_nll[row] - 1e-9


# --------------------------------------------------------------------------- constraints

BIO_LABELS = ["B-PER", "I-PER", "O"]
BIOES_LABELS = ["B-PER", "I-PER", "E-PER", "S-PER", "O"]


def test_transition_constraints_masks():
    masks = transition_constraints(BIO_LABELS, "BIO")
    assert masks["allowed_start"].tolist() == [True, False, True]
    assert masks["allowed_end"].tolist() == [True, True, True]
    # rows: from, columns: to
    assert masks["allowed"].tolist() == [[True, True, True], [True, True, True], [True, False, True]]
    bioes = transition_constraints(BIOES_LABELS, "BIOES")
    assert bioes["allowed_start"].tolist() == [True, False, False, True, True]
    assert bioes["allowed_end"].tolist() == [False, False, True, True, True]


def test_viterbi_obeys_bio_constraints_against_emissions():
    crf = CRF(3, **transition_constraints(BIO_LABELS, "BIO")).double()
    inside, outside = BIO_LABELS.index("I-PER"), BIO_LABELS.index("O")
    emissions = torch.zeros(2, SEQ, 3, dtype=torch.double)
    emissions[0, 0, inside] = 50.0  # I-PER at the start
    emissions[0, 1, outside] = 50.0
    emissions[0, 2, inside] = 50.0  # O -> I-PER
    emissions[1, :, inside] = 50.0  # I-PER everywhere
    mask = torch.tensor([[True] * SEQ, [True, True, True, False]])
    best = crf.viterbi(emissions, mask)
    for row, length in enumerate([4, 3]):
        path = tuple(best[row, :length].tolist())
        assert path_allowed(path, BIO_LABELS, "BIO"), [BIO_LABELS[i] for i in path]
    # The best valid paths: B-PER O B-PER ..., and B-PER I-PER I-PER.
    assert best[0, :3].tolist() == [0, 2, 0]
    assert best[1, :3].tolist() == [0, 1, 1]


@SETTINGS
@given(st.integers(0, 2**31 - 1), lengths_strategy, st.sampled_from(["BIO", "BIOES"]))
def test_constrained_viterbi_and_partition_match_brute_force_over_allowed_paths(seed, lengths, scheme):
    labels = BIO_LABELS if scheme == "BIO" else BIOES_LABELS
    crf, emissions, mask = random_case(seed, len(labels), lengths, transition_constraints(labels, scheme))
    emissions = emissions * 5  # strong emissions: forbidden paths often score best unconstrained
    best = crf.viterbi(emissions, mask)
    log_z = crf.log_partition(emissions, mask)
    for row, length in enumerate(lengths):
        allowed = [p for p in all_paths(length, len(labels)) if path_allowed(p, labels, scheme)]
        scores = brute_scores(crf, emissions[row], allowed)
        expected = allowed[max(range(len(allowed)), key=scores.__getitem__)]
        assert tuple(best[row, :length].tolist()) == expected
        assert log_z[row].item() == pytest.approx(torch.logsumexp(torch.tensor(scores, dtype=torch.double), 0).item(), abs=1e-9)


def test_constrained_nll_gradient_is_finite():
    crf, emissions, mask = random_case(3, 5, [4, 2, 3], transition_constraints(BIOES_LABELS, "BIOES"))
    emissions.requires_grad_(True)
    o, b, e, s = (BIOES_LABELS.index(t) for t in ("O", "B-PER", "E-PER", "S-PER"))
    tags = torch.tensor([[b, e, o, s], [s, o, 0, 0], [o, b, e, 0]])
    nll = crf.negative_log_likelihood(emissions, tags, mask)
    assert (nll >= 0).all() and torch.isfinite(nll).all()
    nll.sum().backward()
    assert torch.isfinite(emissions.grad).all() and torch.isfinite(crf.transitions.grad).all()
    # Forbidden transitions are masked out: their raw parameters get no gradient.
    allowed = transition_constraints(BIOES_LABELS, "BIOES")["allowed"]
    assert (crf.transitions.grad[~allowed] == 0).all()


# --------------------------------------------------------------------------- CrfHead

def head_case(seed: int = 0):
    torch.manual_seed(seed)
    head = CrfHead(5, 3).double()
    states = torch.randn(BATCH, SEQ, 5, dtype=torch.double)
    mask = torch.tensor([[True, True, True, True], [True, True, True, False], [True, True, False, False]])
    targets = torch.tensor([[0, 1, 2, 1], [IGNORE] * SEQ, [2, 0, IGNORE, IGNORE]])
    return head, states, mask, targets


def test_crf_head_ignores_unlabelled_sentences():
    head, states, mask, targets = head_case()
    full = head(states, mask, targets).loss
    keep = torch.tensor([0, 2])
    alone = head(states[keep], mask[keep], targets[keep]).loss
    assert full is not None and alone is not None
    assert full.item() == pytest.approx(alone.item(), abs=1e-12)
    # And the loss is the per-token mean of the labelled rows' NLL.
    logits = head.projection(states[keep])
    nll = head.crf.negative_log_likelihood(logits, targets[keep].clamp(min=0), mask[keep])
    assert full.item() == pytest.approx((nll.sum() / mask[keep].sum()).item(), abs=1e-12)


def test_crf_head_loss_changes_with_labelled_rows():
    head, states, mask, targets = head_case()
    changed = targets.clone()
    changed[0, 0] = 2
    assert head(states, mask, targets).loss.item() != pytest.approx(head(states, mask, changed).loss.item())


def test_crf_head_no_labels_no_loss():
    head, states, mask, _ = head_case()
    out = head(states, mask, torch.full((BATCH, SEQ), IGNORE))
    assert out.loss is None
    assert out.scores.shape == (BATCH, SEQ, 3)


def test_crf_head_decode():
    head, states, mask, targets = head_case(1)
    out = head(states, mask, targets, decode=True)
    assert out.ids is not None and out.ids.shape == (BATCH, SEQ)
    assert (out.ids[~mask] == 0).all()
    assert torch.equal(out.ids, head.crf.viterbi(out.scores, mask))
    assert head(states, mask).ids is None and head(states, mask).loss is None


def test_crf_head_loss_backpropagates():
    head, states, mask, targets = head_case(2)
    loss = head(states, mask, targets).loss
    loss.backward()
    assert math.isfinite(loss.item()) and loss.item() > 0
    assert head.projection.weight.grad is not None and head.projection.weight.grad.abs().sum() > 0
