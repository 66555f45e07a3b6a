"""Training settings (weight average, NAdam, locked dropout) and distillation from a teacher."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_config_dict
from safetensors.torch import load_file
from test_training import InterruptAfter

from tagger.core.config import from_dict
from tagger.core.errors import ConfigError
from tagger.core.vocab import Vocab
from tagger.nn.crf import CRF
from tagger.nn.dropout import LockedDropout
from tagger.nn.heads import SoftmaxHead
from tagger.nn.model import build_model
from tagger.training import train
from tagger.training.step import build_optimizer


def small(**training) -> dict:
    raw = tiny_config_dict(limit=40)
    raw["training"] = {**raw["training"], "max_epochs": 3, **training}
    return raw


def test_the_weight_average_is_scored_saved_and_resumed(tmp_path: Path) -> None:
    raw = small(average=0.9)
    straight = train(from_dict(raw), tmp_path / "straight")
    assert all("dev_main_unaveraged" in record for record in straight.epochs)
    with pytest.raises(KeyboardInterrupt):
        train(from_dict(raw), tmp_path / "resumed", monitor=InterruptAfter(1))
    resumed = train(from_dict(raw), tmp_path / "resumed", resume=True)
    assert [r["dev_main"] for r in resumed.epochs] == pytest.approx([r["dev_main"] for r in straight.epochs], abs=1e-9)
    saved, again = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("straight", "resumed"))
    for name in saved:
        torch.testing.assert_close(saved[name], again[name], atol=1e-6, rtol=1e-5)
    last = load_file(str(tmp_path / "straight" / "checkpoint" / "last.safetensors"))  # the weights as trained
    if straight.best_epoch == 3:  # the saved model is the average, not the last weights
        assert any(not torch.equal(saved[name], last[name]) for name in saved)


def test_nadam_and_locked_dropout_are_built_as_configured(tiny_config) -> None:  # noqa: ANN001
    raw = small(optimizer="nadam")
    raw["encoder"]["locked_dropout"] = True
    config = from_dict(raw)
    vocab = Vocab.build([], config.tasks, 1, True)
    model = build_model(config, vocab)
    assert isinstance(build_optimizer(model, config.training, torch.device("cpu")), torch.optim.NAdam)
    assert isinstance(model.encoder.dropout, LockedDropout) and isinstance(model.embeddings.dropout, LockedDropout)
    assert isinstance(build_optimizer(build_model(tiny_config, vocab), tiny_config.training, torch.device("cpu")), torch.optim.AdamW)


def test_soft_losses_are_cross_entropies_with_the_distributions() -> None:
    torch.manual_seed(0)
    logits, mask = torch.randn(2, 5, 4), torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    gold = torch.randint(0, 4, (2, 5))
    one_hot = torch.nn.functional.one_hot(gold, 4).float()
    expected = torch.nn.functional.cross_entropy(logits[mask], gold[mask])
    torch.testing.assert_close(SoftmaxHead(4, 4).soft_loss(logits, mask, one_hot), expected)
    crf = CRF(4)
    with torch.no_grad():
        crf.transitions.normal_()
    log_marginals = crf.log_marginals(logits, mask)
    torch.testing.assert_close(log_marginals.exp()[mask].sum(-1), torch.ones(int(mask.sum())))
    torch.testing.assert_close(log_marginals.exp(), crf.marginals(logits, mask))


def rotated_upos(source: Path, target: Path) -> Path:
    """The corpus with each sentence's upos tags moved one token on: wrong labels, the same label set."""
    blocks = source.read_text(encoding="utf-8").strip().split("\n\n")
    out = []
    for block in blocks:
        rows = [line.split("\t") for line in block.splitlines()]
        tags = [row[1] for row in rows]
        out.append("\n".join("\t".join([row[0], tag, *row[2:]]) for row, tag in zip(rows, tags[-1:] + tags[:-1])))
    target.write_text("\n\n".join(out) + "\n", encoding="utf-8")
    return target


def test_with_weight_one_the_teacher_alone_teaches(trained_tiny_model: Path, tmp_path: Path) -> None:
    """distill.weight = 1: the gold labels no longer count, so wrong ones train the very same model;
    weight 0 trains the model that no teacher does."""
    sample = Path(__file__).parents[2] / "corpora" / "sample" / "train.conll"
    raw = small(max_epochs=2)
    raw["data"]["train"] = {"path": str(sample), "columns": {"upos": 1, "ner": 2}}
    raw["distill"] = {"teacher": str(trained_tiny_model), "weight": 1.0}
    taught = train(from_dict(raw), tmp_path / "taught")
    raw["data"]["train"]["path"] = str(rotated_upos(sample, tmp_path / "wrong.conll"))
    mislabelled = train(from_dict(raw), tmp_path / "mislabelled")
    assert [r["train_loss"] for r in mislabelled.epochs] == [r["train_loss"] for r in taught.epochs]
    first, second = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("taught", "mislabelled"))
    assert all(torch.equal(first[name], second[name]) for name in first)
    raw["data"]["train"]["path"] = str(sample)
    raw["distill"]["weight"] = 0.0
    plain = train(from_dict({**raw, "distill": {}}), tmp_path / "plain")
    unweighted = train(from_dict(raw), tmp_path / "unweighted")
    assert [r["train_loss"] for r in unweighted.epochs] == pytest.approx([r["train_loss"] for r in plain.epochs], abs=1e-6)
    assert [r["train_loss"] for r in taught.epochs] != pytest.approx([r["train_loss"] for r in plain.epochs], abs=1e-3)


def test_a_teacher_without_the_task_or_missing_is_a_config_error(trained_tiny_model: Path, tmp_path: Path) -> None:
    raw = small(max_epochs=1)
    raw["tasks"]["chunk"] = {"decoder": "softmax"}
    raw["data"]["train"] = {"path": "sample:train", "columns": {"upos": 1, "ner": 2, "chunk": 1}}
    raw["distill"] = {"teacher": str(trained_tiny_model)}
    with pytest.raises(ConfigError, match=r"distill\.teacher: .* has no task 'chunk'"):
        train(from_dict(raw), tmp_path / "a")
    raw = small(max_epochs=1)
    raw["distill"] = {"teacher": str(tmp_path / "nowhere")}
    with pytest.raises(ConfigError, match=r"distill\.teacher: .*nowhere"):
        train(from_dict(raw), tmp_path / "b")


def test_a_crf_student_leaves_out_what_its_scheme_forbids_of_a_teachers_share() -> None:
    from tagger.nn.crf import CrfHead

    allowed_start = torch.tensor([True, False])  # label 1 cannot start a sentence (an I- tag, say)
    head = CrfHead(3, 2, allowed=torch.ones(2, 2, dtype=torch.bool), allowed_start=allowed_start, allowed_end=torch.ones(2, dtype=torch.bool))
    logits, mask = torch.zeros(1, 2, 2), torch.ones(1, 2, dtype=torch.bool)
    wanted = torch.tensor([[[0.5, 0.5], [0.5, 0.5]]])  # half on the forbidden start
    loss = head.soft_loss(logits, mask, wanted)
    assert float(loss.detach()) < 1.0  # not 0.5 * 1e4 at the first token
    no_rows = build_model(from_dict(small()), Vocab.build([], from_dict(small()).tasks, 1, True)).embeddings
    assert no_rows.train_rows(torch.zeros(len(no_rows.words.weight), dtype=torch.bool)) == 0
    assert not no_rows.words.weight.requires_grad
