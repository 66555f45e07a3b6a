"""The model directory: config.json, vocab.json, model.safetensors, meta.json. No pickle anywhere."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tagger.config import TaggerConfig, from_dict
from tagger.errors import ConfigError, ModelFormatError
from tagger.nn.model import SequenceTagger, build_model
from tagger.vocab import Vocab

FORMAT_VERSION = 1
FILES = ("config.json", "vocab.json", "model.safetensors", "meta.json")


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write through a temporary file in the same folder and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        temporary = Path(handle.name)
    os.replace(temporary, path)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as handle:
        temporary = Path(handle.name)
    save_file(state, str(temporary), metadata={"format_version": str(FORMAT_VERSION)})
    os.replace(temporary, path)


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights with a strict key and shape check."""
    state = load_file(str(path))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFormatError(f"{path}: weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ModelFormatError(f"{path}: {name} has shape {tuple(tensor.shape)}, the model wants {tuple(expected[name].shape)}")
    model.load_state_dict(state, strict=True)


def versions() -> dict[str, str]:
    from tagger import __version__

    import spacy

    return {"birnn_tagger": __version__, "torch": torch.__version__, "spacy": spacy.__version__, "python": platform.python_version()}


def save_model(
    directory: str | Path, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, meta: dict[str, Any] | None = None
) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(directory / "config.json", config.to_json())
    write_atomic(directory / "vocab.json", json.dumps(vocab.to_dict(), ensure_ascii=False))
    save_weights(model, directory / "model.safetensors")
    full_meta = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "parameters": sum(p.numel() for p in model.parameters()),
        **(meta or {}),
    }
    write_atomic(directory / "meta.json", json.dumps(full_meta, indent=2))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFormatError(f"{path.parent} is not a model directory: {path.name} is missing (expected {', '.join(FILES)})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFormatError(f"{path}: not valid JSON ({error})") from None


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> tuple[SequenceTagger, Vocab, TaggerConfig, dict[str, Any]]:
    """Read a model directory: check its format version, rebuild the network, load weights strictly."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFormatError(f"{directory}: no such model directory")
    meta = read_json(directory / "meta.json")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"{directory}: model format version {version!r}; this package reads version {FORMAT_VERSION}")
    try:
        config = from_dict(read_json(directory / "config.json"), source=str(directory / "config.json"))
    except ConfigError as error:
        raise ModelFormatError(str(error)) from None
    vocab = Vocab.from_dict(read_json(directory / "vocab.json"))
    missing_labels = set(config.tasks) - set(vocab.labels)
    if missing_labels:
        raise ModelFormatError(f"{directory}/vocab.json has no labels for tasks {sorted(missing_labels)}")
    model = build_model(config, vocab)
    if not (directory / "model.safetensors").is_file():
        raise ModelFormatError(f"{directory}: model.safetensors is missing")
    load_weights(model, directory / "model.safetensors")
    return model.to(device).eval(), vocab, config, meta
