"""Training that goes wrong: a loss that stops being finite, a checkpoint whose files do not belong
together, a disk that fills up while training writes. Each stops with one clear error, and what was
saved before stays whole and resumable."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import SAMPLE, tiny_config_dict
from safetensors.torch import load_file
from typer.testing import CliRunner

import tagger.training.checkpoint as checkpoint_module
from tagger.cli import app
from tagger.core.config import from_dict
from tagger.core.errors import TaggerError, WriteFailed
from tagger.nn.model import SequenceTagger
from tagger.training import TrainingMonitor, train
from tagger.training.checkpoint import CHECKPOINT, TRAINER, has_checkpoint
from tagger.training.pretrain import pretrain
from tagger.training.step import TrainingDiverged


def short(epochs: int = 3, **training: Any) -> dict:
    """The tiny config on 20 sentences: three batches an epoch, a fraction of a second each."""
    raw = tiny_config_dict(limit=20)
    raw["training"].update(max_epochs=epochs, **training)
    return raw


def finite(path: Path) -> bool:
    return all(bool(torch.isfinite(tensor).all()) for tensor in load_file(str(path)).values())


def trainer_state(directory: Path) -> dict:
    return json.loads(torch.load(directory / CHECKPOINT / TRAINER, weights_only=True)["state"])


# --------------------------------------------------------------------------- a loss that is not finite


def test_a_learning_rate_that_diverges_stops_training_and_saves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TrainingDiverged) as error:
        train(from_dict(short(learning_rate=1e30)), tmp_path / "model")
    message = str(error.value)
    assert "training diverged at epoch 1, step 2 of 3: the loss of task" in message
    assert "training.learning_rate = 1e+30" in message and "Nothing of this run was saved." in message
    assert not (tmp_path / "model" / "model.safetensors").exists() and not has_checkpoint(tmp_path / "model")


def test_a_huge_task_weight_is_named_at_the_first_step(tmp_path: Path) -> None:
    raw = short()
    raw["tasks"]["ner"]["weight"] = 1e300  # finite in the config, infinite once it multiplies a float32 loss
    with pytest.raises(TrainingDiverged, match=r"at epoch 1, step 1 of 3: the loss of task 'ner' is inf; "
                                               r"likely cause: a very large loss weight \(tasks.ner.weight = 1e\+300\)"):
        train(from_dict(raw), tmp_path / "model")


def nan_after(calls: int) -> Any:
    """A forward pass for the network: after ``calls`` training batches, every loss is NaN."""
    forward, seen = SequenceTagger.forward, [0]

    def poisoned(model: SequenceTagger, *args: Any, **kwargs: Any) -> Any:
        outputs = forward(model, *args, **kwargs)
        if model.training:
            seen[0] += 1
            if seen[0] > calls:
                for output in outputs.values():
                    if output.loss is not None:
                        output.loss = output.loss * float("nan")
        return outputs

    return poisoned


@pytest.mark.parametrize("every_step", [True, False], ids=["checked-each-step", "checked-at-epoch-end"])
def test_a_loss_that_becomes_nan_keeps_the_model_and_checkpoint_saved_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                           every_step: bool) -> None:
    """Epoch 3's first step is NaN: the error names it, also when (as on a GPU) steps are checked at
    the end of the epoch; the best model and the checkpoint stay epoch 2's, finite."""
    monkeypatch.setattr("tagger.training.step.checks_every_step", lambda device: every_step)
    monkeypatch.setattr(SequenceTagger, "forward", nan_after(6))
    model = tmp_path / "model"
    with pytest.raises(TrainingDiverged) as error:
        train(from_dict(short(epochs=4)), model)
    assert "training diverged at epoch 3, step 1 of 3: the loss of task 'upos' is nan" in str(error.value)
    assert "the learning rate is too high" in str(error.value)
    assert f"Kept from before: the best model so far (epoch 2) in {model} and the checkpoint of epoch 2" in str(error.value)
    assert trainer_state(model)["epoch"] == 2
    assert finite(model / "model.safetensors") and finite(model / CHECKPOINT / "last.safetensors")
    assert json.loads((model / "meta.json").read_text())["training"]["epochs"] == 2


def test_a_gradient_that_is_not_finite_stops_before_the_update(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forward = SequenceTagger.forward

    def poisoned(model: SequenceTagger, *args: Any, **kwargs: Any) -> Any:
        outputs = forward(model, *args, **kwargs)
        if model.training:  # sqrt at 0: the loss stays finite, its gradient is inf * 0 = nan
            weight = next(model.parameters())
            outputs["upos"].loss = outputs["upos"].loss + (weight.sum() * 0).sqrt()
        return outputs

    monkeypatch.setattr(SequenceTagger, "forward", poisoned)
    with pytest.raises(TrainingDiverged, match="at epoch 1, step 1 of 3: the gradient norm is nan; likely cause: a value in the input"):
        train(from_dict(short()), tmp_path / "model")


def test_pretraining_that_diverges_stops(tmp_path: Path) -> None:
    raw = {"seed": 3, "data": {"train": str(SAMPLE / "train.conll")}, "masked_lm": {"weight": 1.0, "cutoffs": []},
           "embeddings": {"word_dim": 16, "char_encoder": "cnn", "char_dim": 8, "char_hidden": 16, "min_freq": 1, "max_words": 300},
           "encoder": {"hidden_size": 16, "num_layers": 1},
           "training": {"batch_size": 16, "threads": 1, "learning_rate": 1e30, "warmup_steps": 0},
           "pretrain": {"max_steps": 6, "checkpoint_every": 3, "shuffle_buffer": 64}}
    with pytest.raises(TrainingDiverged, match=r"at epoch 1, step 2: the loss of masked-token prediction is nan.*"
                                               r"Nothing of this run was saved\."):
        pretrain(from_dict(raw), tmp_path / "model")
    assert not (tmp_path / "model" / "model.safetensors").exists()


# --------------------------------------------------------------------------- checkpoints written whole


class CopyTrainerAfter(TrainingMonitor):
    """Keeps a copy of the checkpoint's trainer.pt after ``epoch``; raises KeyboardInterrupt after ``stop``."""

    def __init__(self, model: Path, copy: Path, epoch: int, stop: int) -> None:
        self.model, self.copy, self.epoch, self.stop = model, copy, epoch, stop

    def end_epoch(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            shutil.copy(self.model / CHECKPOINT / TRAINER, self.copy)
        if record["epoch"] == self.stop:
            raise KeyboardInterrupt


def test_a_resume_refuses_a_trainer_file_of_another_epoch(tmp_path: Path) -> None:
    model = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        train(from_dict(short()), model, monitor=CopyTrainerAfter(model, tmp_path / "epoch-1.pt", epoch=1, stop=2))
    shutil.copy(tmp_path / "epoch-1.pt", model / CHECKPOINT / TRAINER)  # epoch 2's weights, epoch 1's optimiser and counters
    with pytest.raises(TaggerError, match=r"cannot resume from .*checkpoint: last.safetensors is not the one trainer.pt \(of epoch 1\) "
                                          r"was saved with: the checkpoint's files were mixed"):
        train(from_dict(short()), model, resume=True)


class FullDisk:
    """Stands in for ``open`` in the checkpoint module: the ``nth`` trainer.pt written fails half-way, disk full."""

    def __init__(self, nth: int) -> None:
        self.left = nth

    def __call__(self, path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        file = open(path, mode, *args, **kwargs)  # noqa: SIM115
        if Path(path).name == TRAINER and "w" in mode:
            self.left -= 1
            if not self.left:
                return Filling(file)
        return file


class Filling:
    """A file that takes 100 bytes of a write, then finds the disk full."""

    def __init__(self, file: Any) -> None:
        self.file = file

    def write(self, data: Any) -> int:
        self.file.write(bytes(memoryview(data)[:100]))
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.file, name)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_a_full_disk_at_a_checkpoint_keeps_the_one_before_to_resume_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    straight = train(from_dict(short()), tmp_path / "straight")
    model = tmp_path / "model"
    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module, "open", FullDisk(2), raising=False)
        with pytest.raises(WriteFailed) as error:
            train(from_dict(short()), model)
    assert str(error.value) == (f"cannot write {model / CHECKPOINT / TRAINER}: No space left on device. The checkpoint of epoch 1 "
                                f"in {model / CHECKPOINT} is whole: free space (or fix the cause), then rerun with --resume to go on from there")
    assert trainer_state(model)["epoch"] == 1
    assert sorted(p.name for p in model.iterdir() if p.name.startswith((".", CHECKPOINT))) == [CHECKPOINT]  # nothing half-written left

    resumed = train(from_dict(short()), model, resume=True)
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]
    assert [r["train_loss"] for r in resumed.epochs] == pytest.approx([r["train_loss"] for r in straight.epochs], rel=1e-5)


def test_a_full_disk_is_one_line_from_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(_toml(short()), encoding="utf-8")
    monkeypatch.setattr(checkpoint_module, "open", FullDisk(1), raising=False)
    result = CliRunner().invoke(app, ["train", str(config), "-o", str(tmp_path / "model")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if "error" in line]
    expected = (f"error: cannot write {tmp_path / 'model' / CHECKPOINT / TRAINER}: No space left on device. No checkpoint was "
                f"written yet: free space (or fix the cause), then train again into {tmp_path / 'model'} with --overwrite")
    assert errors == [expected]


def _toml(raw: dict, prefix: str = "") -> str:
    """A nested dict of the tiny config as TOML (tables for dicts; values as JSON, which TOML reads for these)."""
    scalars = "".join(f"{key} = {json.dumps(value)}\n" for key, value in raw.items() if not isinstance(value, dict))
    tables = "".join(f"[{prefix}{key}]\n{_toml(value, f'{prefix}{key}.')}" for key, value in raw.items() if isinstance(value, dict))
    return scalars + tables


def test_a_checkpoint_left_aside_by_a_stopped_save_is_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between moving the old checkpoint away and renaming the new one into place: resume finds the old one."""
    model = tmp_path / "model"
    renames = []
    real = checkpoint_module.os.replace

    def replace(source: Any, target: Any) -> None:
        if Path(target).name in (CHECKPOINT, f"{CHECKPOINT}.old"):
            renames.append(Path(target).name)
        if renames == [CHECKPOINT, f"{CHECKPOINT}.old", CHECKPOINT]:  # epoch 2's: old moved away, the new one not yet in place
            raise KeyboardInterrupt
        real(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint_module.os, "replace", replace)
        with pytest.raises(KeyboardInterrupt):
            train(from_dict(short()), model)
    assert not (model / CHECKPOINT).exists() and has_checkpoint(model)
    (model / f".{CHECKPOINT}.killed").mkdir()  # what a save killed before its rename leaves
    resumed = train(from_dict(short()), model, resume=True)
    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3]
    assert sorted(p.name for p in model.iterdir() if p.name.startswith((".", CHECKPOINT))) == [CHECKPOINT]


def test_seeds_out_of_range_are_refused_by_the_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "nowhere.toml", "--seeds", f"13,{2**70}"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "a seed must be in [-9223372036854775808, 9223372036854775807]" in result.output


def test_a_device_or_thread_count_this_machine_cannot_give_is_a_clear_error() -> None:
    from tagger.core.config import from_dict
    from tagger.core.errors import ConfigError
    from tagger.core.runtime import choose_device

    if not torch.backends.mps.is_available():
        with pytest.raises(ConfigError, match="training.device: 'mps', but this machine has no MPS \\(Apple GPU\\) device"):
            choose_device("mps")
    threads = torch.get_num_threads()
    raw = tiny_config_dict()
    raw["training"]["threads"] = 1_000_000
    with pytest.raises(ConfigError, match=r"training.threads: must be in \[0, 1024\], got 1000000"):  # the one range, RunOptions' too
        from_dict(raw)
    assert torch.get_num_threads() == threads


class Messages(TrainingMonitor):
    def __init__(self) -> None:
        self.messages: list[str] = []

    def message(self, text: str) -> None:
        self.messages.append(text)


def test_a_checkpoint_of_the_previous_version_resumes_with_a_warning(tmp_path: Path) -> None:
    model = tmp_path / "model"
    train(from_dict(short(epochs=1)), model)
    trainer = torch.load(model / CHECKPOINT / TRAINER, weights_only=True)
    del trainer["sha256"]  # as versions before digests wrote it
    torch.save(trainer, model / CHECKPOINT / TRAINER)
    monitor = Messages()
    resumed = train(from_dict(short(epochs=2)), model, resume=True, monitor=monitor)
    assert [r["epoch"] for r in resumed.epochs] == [1, 2]
    assert any("was written by an earlier version, which recorded no digests" in m for m in monitor.messages), monitor.messages
