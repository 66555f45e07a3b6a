"""What a stopped training continues from: ``DIR/checkpoint`` (last weights, optimiser, schedule, data
order and random states, the run's state and config), and the checks before training into ``DIR``.

A checkpoint is written whole or not at all: into a new folder beside ``checkpoint/``, synced, then
renamed into place (the one before moved to ``checkpoint.old`` meanwhile, and removed after). A run
killed between the two renames leaves ``checkpoint.old``, which :func:`recover_checkpoint` puts back.
``trainer.pt`` records the sha256 of the other files, so that a resume refuses files that do not
belong together (copied from another epoch, or damaged).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tagger.core.config import TaggerConfig, changed_keys
from tagger.core.errors import ConfigError, TaggerError
from tagger.core.vocab import Vocab
from tagger.model.serialize import ENSEMBLE, FORMAT_VERSION, check_and_load, cpu_state
from tagger.nn.model import SequenceTagger

CHECKPOINT = "checkpoint"
TRAINER = "trainer.pt"
WEIGHTS = "last.safetensors"
PREVIOUS = f"{CHECKPOINT}.old"  # the checkpoint before, while a new one is renamed into place


def check_output_dir(output_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to resume without a checkpoint, and to train into another model's directory unless ``overwrite``.
    With ``resume``, a checkpoint left beside its place by a run stopped while saving is put back first."""
    if output_dir.exists() and not output_dir.is_dir():
        raise TaggerError(f"{output_dir} is a file, not a model directory")
    if (output_dir / ENSEMBLE).exists():
        raise TaggerError(f"{output_dir} is an ensemble's directory ({ENSEMBLE}): train into another folder")
    if resume:
        recover_checkpoint(output_dir / CHECKPOINT)
        if not has_checkpoint(output_dir):
            raise TaggerError(f"nothing to resume in {output_dir}: it has no {CHECKPOINT}/{TRAINER} (train without --resume to start)")
        return
    held = [name for name in ("model.safetensors", "config.json", CHECKPOINT, PREVIOUS, "segmenter") if (output_dir / name).exists()]
    if held and not overwrite:
        raise TaggerError(f"{output_dir} already holds a model ({', '.join(held)}): --resume continues its training, "
                          "--overwrite replaces it, or choose another output directory")


def has_checkpoint(output_dir: Path) -> bool:
    """Whether ``output_dir`` holds a checkpoint to resume from (also one that :func:`recover_checkpoint` puts back)."""
    return _whole(output_dir / CHECKPOINT) or _whole(output_dir / PREVIOUS)


def _whole(directory: Path) -> bool:
    return (directory / TRAINER).is_file()


def recover_checkpoint(directory: Path) -> None:
    """After a run stopped while it saved: put ``checkpoint.old`` back when no whole checkpoint took its
    place, and remove the new folder it was writing. The caller holds the model directory's lock."""
    previous = directory.with_name(PREVIOUS)
    if _whole(previous) and not _whole(directory):
        shutil.rmtree(directory, ignore_errors=True)
        os.replace(previous, directory)
    _remove_unfinished(directory)


def _remove_unfinished(directory: Path) -> None:
    """The folders of saves that were stopped before their rename (none is being written: the lock is held)."""
    for unfinished in directory.parent.glob(f".{directory.name}.*"):
        shutil.rmtree(unfinished, ignore_errors=True)


def save_checkpoint(directory: Path, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator, state: Mapping[str, Any], average: torch.nn.Module | None = None) -> None:
    """Everything to continue training: last weights, optimizer, schedule, data order and RNG states,
    the weight average (``training.average``), and ``state`` (the loop's own, as JSON); all of it or, on an
    error (OSError naming the file), none:
    the checkpoint before stays."""
    from safetensors.torch import save

    files: dict[str, bytes | memoryview] = {
        WEIGHTS: save(cpu_state(model), metadata={"format_version": str(FORMAT_VERSION)}),
        "vocab.json": json.dumps(vocab.to_dict(), ensure_ascii=False).encode("utf-8"),
        "config.json": config.to_json().encode("utf-8"),
    }
    trainer = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "state": json.dumps(state),
        "sha256": json.dumps({name: hashlib.sha256(data).hexdigest() for name, data in files.items()}),
    }
    if average is not None:
        trainer["average"] = {name: tensor.detach().cpu() for name, tensor in average.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(trainer, buffer)  # in memory: torch.save reports a failed write without its errno
    files[TRAINER] = buffer.getbuffer()
    write_folder(directory, files)


def write_folder(directory: Path, files: Mapping[str, bytes | memoryview]) -> None:
    """Replace ``directory`` by a folder of ``files``: written and synced beside it, then renamed into place."""
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_unfinished(directory)
    new = Path(tempfile.mkdtemp(dir=parent, prefix=f".{directory.name}."))
    previous = directory.with_name(PREVIOUS)
    try:
        for name, data in files.items():
            _write_synced(new / name, data, directory / name)
        new.chmod(0o755)  # mkdtemp's folder is private; the model directory's folders are not
        _sync(new)
        if directory.exists():
            if _whole(directory) or not _whole(previous):
                shutil.rmtree(previous, ignore_errors=True)
            else:  # a folder that is not a checkpoint, where the last whole one is checkpoint.old
                shutil.rmtree(directory)
        if directory.exists():
            os.replace(directory, previous)
        os.replace(new, directory)
        _sync(parent)
    finally:
        shutil.rmtree(new, ignore_errors=True)  # gone once renamed
    shutil.rmtree(previous, ignore_errors=True)


def _write_synced(path: Path, data: bytes | memoryview, named: Path) -> None:
    """Write and fsync ``path``; an OSError names ``named``, the file it is to become."""
    try:
        with open(path, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        error.filename = str(named)
        raise


def _sync(directory: Path) -> None:
    """fsync a folder, so that the names in it (a rename) are on disk; where folders cannot be synced, nothing."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def load_checkpoint(directory: Path, model: SequenceTagger, optimizer: torch.optim.Optimizer, scheduler: Any,
                    generator: torch.Generator, warn: Callable[[str], None] | None = None, average: torch.nn.Module | None = None
                    ) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into these objects; the loop's state. TaggerError when
    its files do not belong together; ``warn`` hears of a checkpoint too old to be checked. A weight
    ``average`` the checkpoint has none of starts from the weights at the first update."""
    from safetensors.torch import load

    try:
        trainer = torch.load(directory / TRAINER, weights_only=True)  # tensors and plain containers only
        weights = (directory / WEIGHTS).read_bytes()
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:  # RuntimeError: not a zip file (cut short)
        raise TaggerError(f"cannot resume from {directory}: {error}; train again without --resume (with --overwrite)") from None
    _check_digests(directory, trainer, {WEIGHTS: weights}, warn)
    check_and_load(model, load(weights), str(directory / WEIGHTS))
    try:
        optimizer.load_state_dict(trainer["optimizer"])
    except ValueError as error:  # other parameters: the training's trainable word rows differ
        raise TaggerError(f"cannot resume from {directory}: it was written with other trainable parameters ({error}): another "
                          "embeddings.freeze_vectors, other training data, or an older version of this package") from None
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            moment = optimizer.state.get(parameter, {}).get("exp_avg")
            if moment is not None and moment.shape != parameter.shape:
                raise TaggerError(f"cannot resume from {directory}: its optimiser state does not fit the parameters ({tuple(moment.shape)} "
                                  f"against {tuple(parameter.shape)}; the training data or the version changed); train again without --resume")
    if average is not None and "average" in trainer:
        average.load_state_dict(trainer["average"])
    elif average is not None:  # none recorded: it starts from the weights just loaded (its fixed rows too)
        average.module.load_state_dict(model.state_dict())
    scheduler.load_state_dict(trainer["scheduler"])
    generator.set_state(trainer["generator"])
    torch.set_rng_state(trainer["torch_rng"])
    return json.loads(trainer["state"])


def _check_digests(directory: Path, trainer: Mapping[str, Any], read: Mapping[str, bytes], warn: Callable[[str], None] | None) -> None:
    """Refuse a checkpoint whose files are not those its trainer.pt was saved with."""
    if "sha256" not in trainer:
        if warn:
            warn(f"warning: {directory} was written by an earlier version, which recorded no digests: whether its weights and "
                 f"{TRAINER} belong together cannot be checked (if that run was stopped while saving, train again without --resume)")
        return
    for name, digest in json.loads(trainer["sha256"]).items():
        path = directory / name
        data = read[name] if name in read else path.read_bytes() if path.is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            state = json.loads(trainer["state"])
            made = f"step {state['step']}" if "step" in state else f"epoch {state.get('epoch')}"
            raise TaggerError(f"cannot resume from {directory}: {name} is {'missing' if data is None else 'not the one'} "
                              f"{TRAINER} (of {made}) was saved with: the checkpoint's files were mixed (copied from "
                              "another epoch or run) or damaged; restore the checkpoint folder whole, or train again "
                              "without --resume (with --overwrite)")


def checkpoint_vocab(directory: Path) -> Vocab:
    return Vocab.from_dict(json.loads((directory / "vocab.json").read_text(encoding="utf-8")), source=str(directory / "vocab.json"))


# Settings a resumed training must share with the run it continues: they shape the network and its
# data, or live in the optimiser's and schedule's state, which the resume restores (a changed learning
# rate would be named and then ignored). Any other change (batch size, epochs, dropout...) is allowed,
# with a warning.
RESUME_FIXED = ("lang", "init_from", "data.train", "data.max_train_sentences", "tasks", "embeddings", "encoder", "masked_lm", "char_lm",
                "training.learning_rate", "training.weight_decay", "training.betas", "training.schedule", "training.warmup_steps",
                "training.optimizer")
RESUME_FREE = ("embeddings.dropout", "embeddings.word_dropout", "encoder.dropout", "masked_lm.weight", "char_lm.weight",
               "training.threads", "training.device")


def check_resumed_config(config: TaggerConfig, checkpoint: Path) -> str:
    """Compare the config with the one the checkpoint was written with: refuse a change of what
    :data:`RESUME_FIXED` names; a warning naming any other changed key, or ""."""
    saved_path = checkpoint / "config.json"
    if not saved_path.is_file():
        saved_path = checkpoint.parent / "config.json"  # checkpoints written before they kept their config
    if not saved_path.is_file():
        return ""
    changed = {key: f"{key} {json.dumps(old)} -> {json.dumps(new)}"
               for key, old, new in changed_keys(json.loads(saved_path.read_text(encoding="utf-8")), config.to_dict())}
    fixed = [key for key in changed if _under(key, RESUME_FIXED) and not _under(key, RESUME_FREE)]
    if fixed:
        raise ConfigError(fixed[0], f"cannot resume {checkpoint.parent} with another network, data or optimiser: "
                          f"{'; '.join(changed[key] for key in fixed)} (the checkpoint's values are in {saved_path})")
    noticed = [change for key, change in changed.items() if not _under(key, ("training.threads", "training.device"))]
    return f"warning: resuming {checkpoint.parent} with changed settings: {'; '.join(noticed)}" if noticed else ""


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)
