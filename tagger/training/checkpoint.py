"""What a stopped training continues from: ``DIR/checkpoint`` (last weights, optimiser, schedule, data
order and random states, the run's state and config), and the checks before training into ``DIR``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tagger.atomic import atomic_path, write_atomic
from tagger.config import TaggerConfig, changed_keys
from tagger.errors import ConfigError, TaggerError
from tagger.nn.model import SequenceTagger
from tagger.serialize import load_weights, save_weights
from tagger.vocab import Vocab

CHECKPOINT = "checkpoint"
TRAINER = "trainer.pt"


def check_output_dir(output_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to resume without a checkpoint, and to train into another model's directory unless ``overwrite``."""
    if output_dir.exists() and not output_dir.is_dir():
        raise TaggerError(f"{output_dir} is a file, not a model directory")
    if resume:
        if not has_checkpoint(output_dir):
            raise TaggerError(f"nothing to resume in {output_dir}: it has no {CHECKPOINT}/{TRAINER} (train without --resume to start)")
        return
    held = [name for name in ("model.safetensors", "config.json", CHECKPOINT, "segmenter") if (output_dir / name).exists()]
    if held and not overwrite:
        raise TaggerError(f"{output_dir} already holds a model ({', '.join(held)}): --resume continues its training, "
                          "--overwrite replaces it, or choose another output directory")


def has_checkpoint(output_dir: Path) -> bool:
    return (output_dir / CHECKPOINT / TRAINER).is_file()


def save_checkpoint(directory: Path, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, optimizer: torch.optim.Optimizer,
                    scheduler: Any, generator: torch.Generator, state: Mapping[str, Any]) -> None:
    """Everything to continue training: last weights, optimizer, schedule, data order and RNG states,
    and ``state`` (the loop's own, as JSON)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "vocab.json", json.dumps(vocab.to_dict(), ensure_ascii=False))
    write_atomic(directory / "config.json", config.to_json())
    save_weights(model, directory / "last.safetensors")
    trainer = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "state": json.dumps(state),
    }
    with atomic_path(directory / TRAINER) as temporary:
        torch.save(trainer, temporary)


def load_checkpoint(directory: Path, model: SequenceTagger, optimizer: torch.optim.Optimizer, scheduler: Any,
                    generator: torch.Generator) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote into these objects; the loop's state."""
    load_weights(model, directory / "last.safetensors")
    trainer = torch.load(directory / TRAINER, weights_only=True)  # tensors and plain containers only
    try:
        optimizer.load_state_dict(trainer["optimizer"])
    except ValueError as error:  # other parameter groups: freeze_vectors was changed
        raise ConfigError("embeddings.freeze_vectors", f"{directory} was written with other optimiser parameter groups "
                          f"({error}); resume with the setting it was trained with") from None
    scheduler.load_state_dict(trainer["scheduler"])
    generator.set_state(trainer["generator"])
    torch.set_rng_state(trainer["torch_rng"])
    return json.loads(trainer["state"])


def checkpoint_vocab(directory: Path) -> Vocab:
    return Vocab.from_dict(json.loads((directory / "vocab.json").read_text(encoding="utf-8")))


# Settings a resumed training must share with the run it continues: they shape the network and its
# data. Any other change (learning rate, batch size, epochs, dropout...) is allowed, with a warning.
RESUME_FIXED = ("lang", "init_from", "data.train", "data.max_train_sentences", "tasks", "embeddings", "encoder", "masked_lm", "char_lm")
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
        raise ConfigError(fixed[0], f"cannot resume {checkpoint.parent} with another network or data: "
                          f"{'; '.join(changed[key] for key in fixed)} (the checkpoint's values are in {saved_path})")
    noticed = [change for key, change in changed.items() if not _under(key, ("training.threads", "training.device"))]
    return f"warning: resuming {checkpoint.parent} with changed settings: {'; '.join(noticed)}" if noticed else ""


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)
