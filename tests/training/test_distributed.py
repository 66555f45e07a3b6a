"""Data-parallel training: two processes under torchrun train the model one process trains on the
same global batches; each rank's share of a batch and its loss factors; the precision option."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, tiny_config_dict
from safetensors.torch import load_file

from tagger.core.batching import MASKED_LM, BatchEncoder
from tagger.core.config import TaggerConfig, from_dict
from tagger.core.errors import ConfigError
from tagger.core.runtime import cores_per_process
from tagger.core.types import Sentence
from tagger.core.vocab import Vocab
from tagger.data.configs import load_config
from tagger.nn.model import build_model
from tagger.training import TrainingMonitor, train
from tagger.training.distributed import Group
from tagger.training.step import TrainStep, build_scheduler, loss_tokens, share_scales

needs_gloo = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
    reason="this torch build has no torch.distributed with the gloo backend",
)

MODEL_FILES = {"config.json", "vocab.json", "model.safetensors", "meta.json", "metrics.jsonl", "learning_curve.png", "checkpoint"}


def deterministic_config() -> dict:
    """The tiny config without dropout, so that the runs compared are deterministic; with
    masked-token prediction, whose head may get no targets in a rank's share (DDP must look for
    unused parameters); and 57 sentences in batches of 7, so every epoch has a batch of one
    sentence, which leaves rank 1 nothing of its own to train on."""
    raw = tiny_config_dict(limit=57)
    raw["embeddings"].update(dropout=0.0, word_dropout=0.0)
    raw["encoder"]["dropout"] = 0.0
    raw["training"].update(batch_size=7, max_epochs=3)
    raw["masked_lm"] = {"weight": 0.5, "cutoffs": [50]}
    return raw


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans are written alike in both


def write_toml(raw: dict, path: Path) -> Path:
    """A config dict as TOML: its tables as sections, anything deeper inline."""
    lines = [f"{key} = {toml_value(value)}" for key, value in raw.items() if not isinstance(value, dict)]
    for section, table in raw.items():
        if isinstance(table, dict):
            lines += [f"[{section}]", *(f"{key} = {toml_value(value)}" for key, value in table.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def torchrun(config: Path, output: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node 2 -m tagger train``, in the config's folder."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tagger", "train", str(config), "--output", str(output), *options]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    finished = subprocess.run(command, cwd=config.parent, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished


def assert_same_weights(first: Path, second: Path) -> None:
    """Two weight files agree within float32 rounding of different summation orders.

    Measured here: 1e-6 apart after one epoch, 3e-6 after three; halving every loss (a missing
    ``world_size`` factor) moves them 2e-3 apart, a task's tokens miscounted by 1e-4 or more.
    """
    mine, theirs = load_file(str(first)), load_file(str(second))
    assert mine.keys() == theirs.keys()
    for name in mine:
        torch.testing.assert_close(mine[name], theirs[name], atol=2e-5, rtol=1e-4, msg=lambda text: f"{name}: {text}")


def losses(model: Path) -> list[float]:
    """Per-epoch training losses: unlike the weights (Adam's steps), they show a uniformly wrong loss scale."""
    return [json.loads(line)["train_loss"] for line in (model / "metrics.jsonl").read_text().splitlines()]


class KeepFirstEpoch(TrainingMonitor):
    """Copies the weights after epoch 1 (checkpointed before the monitor hears of the epoch)."""

    def __init__(self, model: Path, copy: Path) -> None:
        self.model, self.copy = model, copy

    def end_epoch(self, record: dict) -> None:
        if record["epoch"] == 1:
            shutil.copy(self.model / "checkpoint" / "last.safetensors", self.copy)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process reference, trained here; its weights after epoch 1 in ``epoch-1.safetensors`` beside it."""
    root = tmp_path_factory.mktemp("single")
    train(from_dict(deterministic_config()), root / "model", monitor=KeepFirstEpoch(root / "model", root / "epoch-1.safetensors"))
    return root / "model"


@pytest.fixture(scope="module")
def first_epoch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Two processes train until the time budget is spent, which rank 0 decides after epoch 1."""
    root = tmp_path_factory.mktemp("distributed")
    config = write_toml(deterministic_config(), root / "tiny.toml")
    return root / "model", torchrun(config, root / "model", "--set", "training.max_minutes=1e-6")


@needs_gloo
def test_two_processes_train_the_model_one_process_trains(first_epoch: tuple[Path, subprocess.CompletedProcess[str]],
                                                          single: Path) -> None:
    output, finished = first_epoch
    assert_same_weights(output / "model.safetensors", single.parent / "epoch-1.safetensors")
    assert losses(output) == pytest.approx(losses(single)[:1], rel=1e-5)
    # Rank 0 alone wrote: one model directory, each epoch once, one report; rank 1 stopped with it.
    assert {p.name for p in output.parent.iterdir()} == {"tiny.toml", "model"}
    assert {p.name for p in output.iterdir()} == MODEL_FILES
    assert {p.name for p in (output / "checkpoint").iterdir()} == {"config.json", "last.safetensors", "trainer.pt", "vocab.json"}
    assert [json.loads(line)["epoch"] for line in (output / "metrics.jsonl").read_text().splitlines()] == [1]
    assert "2 processes (gloo" in finished.stderr
    assert finished.stderr.count("stopping: the 1e-06-minute budget is spent") == 1
    assert finished.stdout.count("model saved to") == 1 and finished.stdout.count("dev scores") == 1


@needs_gloo
def test_two_processes_resume_from_rank_0s_checkpoint(first_epoch: tuple[Path, subprocess.CompletedProcess[str]],
                                                      single: Path, tmp_path: Path) -> None:
    shutil.copytree(first_epoch[0], tmp_path / "model")
    config = write_toml(deterministic_config(), tmp_path / "tiny.toml")
    finished = torchrun(config, tmp_path / "model", "--resume")
    assert "resuming after epoch 1" in finished.stderr
    assert [json.loads(line)["epoch"] for line in (tmp_path / "model" / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    # Every rank took up the optimizer state too, or they would have drifted apart.
    assert_same_weights(tmp_path / "model" / "checkpoint" / "last.safetensors", single / "checkpoint" / "last.safetensors")
    assert losses(tmp_path / "model") == pytest.approx(losses(single), rel=1e-5)


@needs_gloo
def test_two_processes_train_seeds_with_vectors(single: Path, tmp_path: Path) -> None:
    """--seeds under torchrun: every seed trained by both ranks together, from vectors that rank 0
    reads and shares; rank 0 alone writes and reports; a resume keeps both finished seeds."""
    raw = deterministic_config()
    words = sorted({w.lower() for w in json.loads((single / "vocab.json").read_text())["words"][3:]})[::2]
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{w} " + " ".join(f"{(i * 7 + j) % 11 / 10 - 0.5:.2f}" for j in range(8)) + "\n"
                               for i, w in enumerate(words)))
    raw["embeddings"].update(word_dim=0, pretrained=str(vectors))
    raw["training"]["max_epochs"] = 1
    config = write_toml(raw, tmp_path / "tiny.toml")
    finished = torchrun(config, tmp_path / "model", "--seeds", "5,6")
    summary = json.loads((tmp_path / "model" / "seeds.json").read_text())
    assert [run["seed"] for run in summary["runs"]] == [5, 6]
    for seed in (5, 6):
        saved = json.loads((tmp_path / "model" / f"seed-{seed}" / "config.json").read_text())
        assert saved["seed"] == seed and saved["embeddings"]["word_dim"] == 8
    assert finished.stdout.count("mean ± sd") == 1 and finished.stderr.count("vectors ") == 2  # rank 0 only, once a seed
    again = torchrun(config, tmp_path / "model", "--seeds", "5,6", "--resume")
    assert again.stderr.count("not trained again") == 2 and "training sentences" not in again.stderr


def partly_labelled(char_lm: bool = False) -> tuple[TaggerConfig, list[Sentence], Vocab]:
    """A tiny config with masked-token prediction (and, with ``char_lm``, the character LM), and
    sentences some of which lack a task's labels."""
    raw = tiny_config_dict()
    raw["embeddings"].update(dropout=0.0)
    raw["encoder"]["dropout"] = 0.0
    raw["masked_lm"] = {"weight": 0.5, "cutoffs": [50]}
    if char_lm:
        raw["embeddings"]["char_encoder"] = "sentence_lstm"
        raw["char_lm"] = {"weight": 0.3}
    config = from_dict(raw)
    words = "Anna Berg moved to Oslo in May . She works for Nordic Air now".split()
    sentences = [
        Sentence(words[:8], {"upos": ["PROPN", "PROPN", "VERB", "ADP", "PROPN", "ADP", "PROPN", "PUNCT"],
                             "ner": ["B-PER", "E-PER", "O", "O", "S-LOC", "O", "O", "O"]}),
        Sentence(words[8:], {"upos": ["PRON", "VERB", "ADP", "PROPN", "PROPN", "ADV"]}),  # no entities
        Sentence(words[2:5], {"ner": ["O", "O", "S-LOC"]}),  # no parts of speech
        Sentence(words[4:6], {"upos": ["PROPN", "ADP"], "ner": ["S-LOC", "O"]}),
        Sentence(words[10:12], {"upos": ["PROPN", "PROPN"], "ner": ["B-ORG", "E-ORG"]}),
    ]
    return config, sentences, Vocab.build(sentences, config.tasks, 1, True)


def gradients(step: TrainStep, sentences: list[Sentence]) -> tuple[float, dict[str, torch.Tensor]]:
    step.generator.manual_seed(3)  # every rank blanks the same tokens
    step.model.zero_grad(set_to_none=True)
    loss = step.loss(sentences)
    assert loss is not None
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in step.model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(("size", "char_lm"), [(5, False), (3, False), (1, False), (5, True), (1, True)])
def test_shares_average_to_the_whole_batch(size: int, char_lm: bool) -> None:
    """What DDP computes (the mean over ranks of each rank's loss and gradients) equals the loss and
    gradient of the whole batch, also with missing labels and a batch smaller than the group."""
    config, sentences, vocab = partly_labelled(char_lm)
    torch.manual_seed(0)
    model = build_model(config, vocab)
    optimizer = torch.optim.AdamW(model.parameters())

    def step(group: Group) -> TrainStep:
        return TrainStep(model, BatchEncoder.for_embeddings(vocab, config.embeddings), optimizer, build_scheduler(optimizer, config.training, total_steps=config.training.max_epochs), config,
                     torch.device("cpu"), TrainingMonitor(), torch.Generator(), group)

    batch = sentences[:size]
    whole_loss, whole = gradients(step(Group()), batch)
    world = 3
    shares = [gradients(step(Group(rank, world)), batch) for rank in range(world)]
    assert sum(loss for loss, _ in shares) / world == pytest.approx(whole_loss, rel=1e-5)
    for name, gradient in whole.items():
        averaged = sum(g[name] for _, g in shares if name in g) / world
        torch.testing.assert_close(averaged, gradient, atol=1e-6, rtol=1e-4, msg=lambda text: f"{name}: {text}")


def test_loss_tokens_count_as_the_heads_do() -> None:
    config, sentences, vocab = partly_labelled()
    blanks = [[-100, 5, -100], [-100, -100]]
    assert loss_tokens(sentences[2], blanks[0], vocab, config.tasks) == {"upos": 0, "ner": 3, MASKED_LM: 1}
    # A CRF counts every token of a sentence with a label; a softmax head only the labelled ones.
    partly = Sentence(["Anna", "moved"], {"upos": ["PROPN", ""], "ner": ["S-LOC", ""]})
    assert loss_tokens(partly, blanks[1], vocab, config.tasks) == {"upos": 1, "ner": 2, MASKED_LM: 0}
    assert share_scales([Sentence(["x"], {})], None, vocab, config.tasks, Group(1, 2)) is None  # nothing to learn


def test_group_of_one_process_is_a_no_op() -> None:
    group = Group()
    assert not group.active and group.is_main
    assert group.shard([1, 2, 3]) == [1, 2, 3] and group.broadcast("x") == "x" and group.sum(2.5) == 2.5
    model = torch.nn.Linear(2, 2)
    assert group.wrap(model, torch.device("cpu"), find_unused_parameters=False) is model
    assert Group(1, 3).shard(list(range(8))) == [1, 4, 7]
    assert 1 <= cores_per_process(2) <= max(1, (os.cpu_count() or 1) // 2) and cores_per_process(10_000) == 1


def test_precision_is_validated(tmp_path: Path) -> None:
    path = write_toml(tiny_config_dict(), tmp_path / "tiny.toml")
    assert load_config(path).training.precision == "fp32"
    assert load_config(path, ["training.precision=bf16"]).training.precision == "bf16"
    with pytest.raises(ConfigError) as error:
        load_config(path, ["training.precision=fp16"])
    assert error.value.key == "training.precision" and "'bf16'" in str(error.value)


def test_bf16_on_the_cpu_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    raw = tiny_config_dict()
    raw["training"].update(precision="bf16", device="cpu")
    with pytest.raises(ConfigError, match="training.precision: \"bf16\" is autocast on CUDA and this run is on cpu"):
        train(from_dict(raw), tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_pretraining_refuses_bf16(tmp_path: Path) -> None:
    from tagger.training.pretrain import pretrain

    raw = tiny_config_dict()
    raw["training"].update(precision="bf16")
    with pytest.raises(ConfigError, match="tagger pretrain trains in fp32"):
        pretrain(from_dict(raw), tmp_path / "model")
