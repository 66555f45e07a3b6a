"""The model directory: config.json, vocab.json, model.safetensors, meta.json. No pickle anywhere."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.atomic import atomic_path, write_atomic
from tagger.config import TaggerConfig, from_dict
from tagger.errors import ConfigError, ModelFormatError
from tagger.tasks import TaskSpec, task_specs
from tagger.vocab import Vocab

if TYPE_CHECKING:  # torch is imported where weights are read or written: describe() and `tagger info` need none
    import torch

    from tagger.nn.model import SequenceTagger

FORMAT_VERSION = 1
FILES = ("config.json", "vocab.json", "model.safetensors", "meta.json")
SEGMENTER = "segmenter"  # the folder of a model's own segmenter: a model directory itself (tagger.segmenter)


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as temporary:
        save_file(cpu_state(model), str(temporary), metadata={"format_version": str(FORMAT_VERSION)})


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights with a strict key and shape check."""
    from safetensors.torch import load_file

    check_and_load(model, load_file(str(path)), str(path))


def check_and_load(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelFormatError(f"{source}: weights do not fit the model (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ModelFormatError(f"{source}: {name} has shape {tuple(tensor.shape)}, the model wants {tuple(expected[name].shape)}")
    model.load_state_dict(state, strict=True)


def versions() -> dict[str, str]:
    import spacy
    import torch

    from tagger import __version__

    return {"birnn_tagger": __version__, "torch": torch.__version__, "spacy": spacy.__version__, "python": platform.python_version()}


# meta.json records their sha256; a segmenter's own meta.json records those of its files
DIGESTED = ("config.json", "vocab.json", "model.safetensors", f"{SEGMENTER}/meta.json")


def model_files(model: SequenceTagger, vocab: Vocab, config: TaggerConfig, meta: dict[str, Any],
                segmenter: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """A model as the bytes of its files (the same whether it goes to a folder or into a spaCy pipeline);
    ``segmenter``: the files of its segmenter, which go into ``segmenter/``."""
    from safetensors.torch import save

    files = {
        "config.json": config.to_json().encode("utf-8"),
        "vocab.json": json.dumps(vocab.to_dict(), ensure_ascii=False).encode("utf-8"),
        "model.safetensors": save(cpu_state(model), metadata={"format_version": str(FORMAT_VERSION)}),
        **{f"{SEGMENTER}/{name}": data for name, data in (segmenter or {}).items()},
    }
    meta = {**meta, "sha256": {name: hashlib.sha256(files[name]).hexdigest() for name in DIGESTED if name in files}}
    return {**files, "meta.json": json.dumps(meta, indent=2).encode("utf-8")}


def segmenter_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The files of the segmenter among a model's files (``segmenter/...``), by their own names; {} for none."""
    prefix = f"{SEGMENTER}/"
    return {name.removeprefix(prefix): data for name, data in files.items() if name.startswith(prefix)}


def check_digests(files: Mapping[str, bytes], meta: Mapping[str, Any], source: str) -> None:
    """Raise ModelFormatError naming the first file whose sha256 is not the one meta.json recorded
    (models saved before digests were recorded have none to check)."""
    recorded = meta.get("sha256")
    if not isinstance(recorded, dict):
        return
    for name in DIGESTED:
        if name in recorded and name not in files:
            raise ModelFormatError(f"{source}/{name} is missing: meta.json recorded it when the model was saved (copy or train the model again)")
        if name in recorded and hashlib.sha256(files[name]).hexdigest() != recorded[name]:
            raise ModelFormatError(f"{source}/{name}: its sha256 is not the one meta.json recorded when the model was saved: "
                                   "the file was damaged or changed (copy or train the model again)")


def save_model(
    directory: str | Path, model: SequenceTagger, vocab: Vocab, config: TaggerConfig, meta: dict[str, Any] | None = None,
    segmenter: Mapping[str, bytes] | None = None,
) -> None:
    """Write a model directory (with ``segmenter``'s files in ``segmenter/``); ``meta`` is added to what
    is always recorded (format version, versions)."""
    full_meta = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "parameters": sum(p.numel() for p in model.parameters()),
        **(meta or {}),
    }
    write_files(directory, model_files(model, vocab, config, full_meta, segmenter))


def write_files(directory: str | Path, files: Mapping[str, bytes]) -> None:
    """Write each file (``meta.json`` last, so that a model is whole once it is there), folders as needed."""
    directory = Path(directory)
    for name in sorted(files, key=lambda name: name == "meta.json"):
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / name, files[name])


def read_json(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"{path.parent} is not a model directory: {path.name} is missing (expected {', '.join(FILES)})") from None
    return _parse_json(data, str(path))


def _parse_json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFormatError(f"{source}: not valid JSON ({error})") from None


@dataclass
class LoadedModel:
    """A model directory read back: the network (in eval mode), its vocabularies, config and meta."""

    model: SequenceTagger
    vocab: Vocab
    config: TaggerConfig
    meta: dict[str, Any] = field(default_factory=dict)
    segmenter: LoadedModel | None = None  # the model's own segmenter (tagger.segmenter), when it has one


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, without its weights: what ``tagger info``, the service's ``/info`` and
    ``export-spacy`` show. ``meta`` is meta.json as recorded (scores, corpora, training, versions)."""

    name: str
    config: TaggerConfig
    tasks: dict[str, TaskSpec]
    words: int
    chars: int
    meta: dict[str, Any]
    segmentation: dict[str, Any] = field(default_factory=dict)  # of the segmenter it carries (or is): scores, lexicon

    @classmethod
    def of(cls, name: str, config: TaggerConfig, vocab: Vocab, meta: Mapping[str, Any],
           segmenter_meta: Mapping[str, Any] | None = None) -> ModelInfo:
        segmentation = dict((segmenter_meta or meta).get("segmentation", {}))
        return cls(name, config, task_specs(config.tasks, vocab), len(vocab.words), len(vocab.chars), dict(meta), segmentation)

    @property
    def finished(self) -> bool:
        """False for a model whose training was stopped before its end (the best epoch so far, no test
        scores); True otherwise, also for models saved before this was recorded."""
        return self.meta.get("training", {}).get("finished") is not False

    @property
    def scores(self) -> dict[str, dict[str, dict[str, Any]]]:
        """split -> task -> metrics, as recorded at training."""
        return self.meta.get("scores", {})

    @property
    def corpora(self) -> dict[str, list[str]]:
        """split -> the corpora it was trained (dev: selected, test: scored) on."""
        return self.meta.get("corpora", {})


def read_files(directory: str | Path, names: tuple[str, ...] = FILES) -> dict[str, bytes]:
    """The bytes of a model directory's files, with its segmenter's (``segmenter/...``) when its meta.json
    names one; ModelFormatError naming a missing one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFormatError(f"{directory}: no such model directory")
    files = {}
    for name in names:
        try:
            files[name] = (directory / name).read_bytes()
        except FileNotFoundError:
            raise ModelFormatError(f"{directory} is not a model directory: {name} is missing (expected {', '.join(FILES)})") from None
    if names == FILES and f"{SEGMENTER}/meta.json" in _recorded(files["meta.json"], str(directory)):
        if not (directory / SEGMENTER).is_dir():
            raise ModelFormatError(f"{directory}/{SEGMENTER} is missing: meta.json recorded the model's segmenter there when "
                                   "it was saved (copy or train the model again)")
        files.update({f"{SEGMENTER}/{name}": data for name, data in read_files(directory / SEGMENTER, FILES).items()})
    return files


def _recorded(meta: bytes, source: str) -> dict[str, Any]:
    """The sha256 digests a model's meta.json recorded: which files it is made of (a segmenter/ folder the
    model does not name, left by another model, is not part of it)."""
    recorded = _parse_json(meta, f"{source}/meta.json")
    digests = recorded.get("sha256") if isinstance(recorded, dict) else None
    return digests if isinstance(digests, dict) else {}


def describe(directory: str | Path) -> ModelInfo:
    """What the model in ``directory`` is, its files' digests checked, without building the network."""
    files = read_files(directory)
    config, vocab, meta = _parts(files, str(directory))
    segmenter = segmenter_files(files)
    segmenter_meta = _parse_json(segmenter["meta.json"], f"{directory}/{SEGMENTER}/meta.json") if segmenter else None
    return ModelInfo.of(Path(directory).resolve().name, config, vocab, meta, segmenter_meta)


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read a model directory: check its format version, rebuild the network, load weights strictly."""
    return model_from_files(read_files(directory), str(directory), device)


def _parts(files: Mapping[str, bytes], source: str) -> tuple[TaggerConfig, Vocab, dict[str, Any]]:
    """Config, vocabulary and meta of a model's files, checked: every file there, the format
    version, the digests, a label list for every task."""
    missing = [name for name in FILES if not isinstance(files.get(name), bytes)]
    if missing:
        raise ModelFormatError(f"{source}: model files missing or not bytes: {', '.join(missing)}")
    meta = _parse_json(files["meta.json"], f"{source}/meta.json")
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION:
        raise ModelFormatError(f"{source}: model format version {version!r}; this package reads version {FORMAT_VERSION}")
    check_digests(files, meta, source)
    try:
        config = from_dict(_parse_json(files["config.json"], f"{source}/config.json"), source=f"{source}/config.json")
    except ConfigError as error:
        raise ModelFormatError(str(error)) from None
    try:
        vocab = Vocab.from_dict(_parse_json(files["vocab.json"], f"{source}/vocab.json"))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ModelFormatError(f"{source}/vocab.json: not a vocabulary ({type(error).__name__}: {error})") from None
    missing_labels = set(config.tasks) - set(vocab.labels)
    if missing_labels:
        raise ModelFormatError(f"{source}/vocab.json has no labels for tasks {sorted(missing_labels)}")
    missing_features = set(config.embeddings.features) - set(vocab.features)
    if missing_features:
        raise ModelFormatError(f"{source}/vocab.json has no values for the features {sorted(missing_features)}")
    return config, vocab, meta


def model_from_files(files: Mapping[str, bytes], source: str, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a model from the bytes of its files; ``source`` names where they came from in errors."""
    from safetensors.torch import load

    from tagger.nn.model import build_model

    config, vocab, meta = _parts(files, source)
    model = build_model(config, vocab)
    try:
        state = load(files["model.safetensors"])
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"{source}/model.safetensors: not a safetensors file ({error})") from None
    check_and_load(model, state, f"{source}/model.safetensors")
    segmenter = segmenter_files(files)
    return LoadedModel(model.to(device).eval(), vocab, config, meta,
                       model_from_files(segmenter, f"{source}/{SEGMENTER}", device) if segmenter else None)
