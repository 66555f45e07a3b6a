"""The model directory: config.json, vocab.json, model.safetensors, meta.json. No pickle anywhere."""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.core.config import TaggerConfig, from_dict
from tagger.core.errors import ConfigError, ModelFormatError
from tagger.core.model_info import ModelInfo
from tagger.core.tasks import task_specs
from tagger.core.vocab import Vocab
from tagger.files.atomic import atomic_path, write_atomic

if TYPE_CHECKING:  # torch is imported where weights are read or written: describe() and `tagger info` need none
    import torch

    from tagger.nn.ensemble import EnsembleModel
    from tagger.nn.model import SequenceTagger

FORMAT_VERSION = 1
FILES = ("config.json", "vocab.json", "model.safetensors", "meta.json")
ENSEMBLE = "ensemble.json"  # in a directory of several models that label together, each in its own folder (member-0, ...)
SEGMENTER = "segmenter"  # the folder of a model's own segmenter: a model directory itself (tagger.model.segmenter)
# The most a model's JSON file may hold: a config or meta.json is a few kB (tens with many seeds), the vocabulary
# of a few million words (vectors, a segmenter's lexicon) tens of MB. Above, it is not a model's, and parsing it could
# take many times its size in memory. The weights are bounded by their own header and this machine's memory.
JSON_LIMITS = {ENSEMBLE: 1 << 20, "config.json": 16 << 20, "meta.json": 16 << 20, "vocab.json": 256 << 20}
MAX_WEIGHTS_HEADER = 100_000_000  # as safetensors itself: a header names tensors, a few kB each at most
FLOAT_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}  # the dtypes of a network's weights, and their sizes


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

    from tagger.core.version import __version__

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
    (models saved before digests were recorded have none to check; ``meta`` is checked: see META)."""
    recorded = meta.get("sha256", {})
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
        "parameters": sum(t.numel() for t in model.state_dict().values()),  # a word table's fixed rows too
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
    return _parse_json(read_model_file(path), str(path))


def read_model_file(path: Path) -> bytes:
    """The bytes of one file of a model directory, read only when it is a regular file (after links) of a
    size a model's file can have (JSON_LIMITS; the weights: this machine's memory); ModelFormatError naming
    it otherwise. It is opened without waiting, so that a pipe or a device is refused, never read from."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ModelFormatError(f"{path.parent} is not a model directory: {path.name} is missing (expected {', '.join(FILES)})") from None
    except OSError as error:
        raise ModelFormatError(f"{path}: cannot be read ({os.strerror(error.errno) if error.errno else error})") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            what = "a directory" if stat.S_ISDIR(status.st_mode) else "a device, pipe or socket"
            raise ModelFormatError(f"{path}: {what}, not a file: a model directory holds files (copy or train the model again)")
        limit = JSON_LIMITS.get(path.name, _memory())
        if status.st_size > limit:
            raise ModelFormatError(f"{path}: {status.st_size:,} bytes, more than a model's {path.name} can be "
                                   f"({limit:,} bytes{'' if path.name in JSON_LIMITS else ', the memory of this machine'})")
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            data = file.read(status.st_size + 1)
    except OSError as error:
        raise ModelFormatError(f"{path}: cannot be read ({os.strerror(error.errno) if error.errno else error})") from None
    finally:
        os.close(descriptor)
    if len(data) != status.st_size:
        raise ModelFormatError(f"{path} changed while it was read: load the model again once nothing writes it")
    return data


def _memory() -> int:
    """This machine's memory in bytes (no bound where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 1 << 62


def _parse_json(data: bytes, source: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # bad JSON or UTF-8, a number of over 4300 digits, nesting too deep
        raise ModelFormatError(f"{source}: not valid JSON ({type(error).__name__}: {str(error)[:200]})") from None


@dataclass
class LoadedModel:
    """A model directory read back: the network (in eval mode), its vocabularies, config and meta."""

    model: SequenceTagger | EnsembleModel
    vocab: Vocab
    config: TaggerConfig
    meta: dict[str, Any] = field(default_factory=dict)
    segmenter: LoadedModel | None = None  # the model's own segmenter (tagger.model.segmenter), when it has one
    members: list[LoadedModel] = field(default_factory=list)  # an ensemble's models (its vocab and config are the first's)

    def files(self) -> dict[str, bytes]:
        """The model as the bytes of its files, as :func:`read_files` gives them."""
        if self.members:
            return ensemble_files([member.files() for member in self.members], self.meta["ensemble"]["crf"])
        segmenter = self.segmenter.files() if self.segmenter is not None else None
        return model_files(self.model, self.vocab, self.config, self.meta, segmenter)  # type: ignore[arg-type]


def read_files(directory: str | Path, names: tuple[str, ...] = FILES) -> dict[str, bytes]:
    """The bytes of a model directory's files, with its segmenter's (``segmenter/...``) when its meta.json
    names one; ModelFormatError naming a missing one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFormatError(f"{directory}: no such model directory")
    if names == FILES and (directory / ENSEMBLE).exists():
        listed = read_model_file(directory / ENSEMBLE)
        members = _ensemble(listed, str(directory))["members"]
        return {ENSEMBLE: listed, **{f"{member}/{name}": data for member in members for name, data in read_files(directory / member).items()}}
    files = {name: read_model_file(directory / name) for name in names}
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
    """What the model in ``directory`` is, every file checked as loading checks it (digests, the shapes of its
    JSON files, the weights' header against the config), without building the network."""
    files = read_files(directory)
    if ENSEMBLE in files:
        listed = _ensemble(files[ENSEMBLE], str(directory))
        parts = [_parts(member_files(files, member), f"{directory}/{member}") for member in listed["members"]]
        config, vocab, _ = parts[0]
        return ModelInfo.of(Path(directory).resolve().name, config, vocab, ensemble_meta(listed, [meta for *_, meta in parts]))
    config, vocab, meta = _parts(files, str(directory))
    segmenter = segmenter_files(files)
    segmenter_meta = _parts(segmenter, f"{directory}/{SEGMENTER}")[2] if segmenter else None
    return ModelInfo.of(Path(directory).resolve().name, config, vocab, meta, segmenter_meta)


def load_model(directory: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Read a model directory: check its format version, rebuild the network, load weights strictly."""
    return model_from_files(read_files(directory), str(directory), device)


def _parts(files: Mapping[str, bytes], source: str) -> tuple[TaggerConfig, Vocab, dict[str, Any]]:
    """Config, vocabulary and meta of a model's files, checked: every file there, meta.json's shape and
    format version, the digests, the config, the vocabulary (labels that fit each task), and the weights'
    header against them. A model directory may come from anyone: anything else is a ModelFormatError."""
    missing = [name for name in FILES if not isinstance(files.get(name), bytes)]
    if missing:
        raise ModelFormatError(f"{source}: model files missing or not bytes: {', '.join(missing)}")
    meta = _parse_json(files["meta.json"], f"{source}/meta.json")
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ModelFormatError(f"{source}/meta.json: model format version {version!r}; this package reads version {FORMAT_VERSION}")
    check_shape(meta, META, "", f"{source}/meta.json")
    unknown = sorted(set(meta.get("sha256", {})) - set(DIGESTED))
    if unknown:
        raise ModelFormatError(f"{source}/meta.json: sha256 names {unknown[0]!r}, which is not a model file ({', '.join(DIGESTED)})")
    check_digests(files, meta, source)
    try:
        config = from_dict(_parse_json(files["config.json"], f"{source}/config.json"), source=f"{source}/config.json")
    except ConfigError as error:
        raise ModelFormatError(str(error)) from None
    if config.embeddings.word_dim <= 0:  # 0 means "the vectors' size" in a training config; a model has its size
        raise ModelFormatError(f"{source}/config.json: embeddings.word_dim: must be positive in a model, got {config.embeddings.word_dim}")
    vocab = Vocab.from_dict(_parse_json(files["vocab.json"], f"{source}/vocab.json"), f"{source}/vocab.json")
    missing_labels = set(config.tasks) - set(vocab.labels)
    if missing_labels:
        raise ModelFormatError(f"{source}/vocab.json has no labels for tasks {sorted(missing_labels)}")
    missing_features = set(config.embeddings.features) - set(vocab.features)
    if missing_features:
        raise ModelFormatError(f"{source}/vocab.json has no values for the features {sorted(missing_features)}")
    for spec in task_specs(config.tasks, vocab).values():
        if (label := spec.misfit_label()) is not None:
            raise ModelFormatError(f"{source}/vocab.json: labels.{spec.name}: {label!r} is not a tag of the task's {spec.scheme} "
                                   "scheme (O, or B-, I-" + (", E-, S-" if spec.scheme == "BIOES" else "") + " and a type)")
    check_weights(files["model.safetensors"], config, vocab, source)
    return config, vocab, meta


def model_from_files(files: Mapping[str, bytes], source: str, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a model (or an ensemble) from the bytes of its files; ``source`` names where they came from in errors."""
    from safetensors.torch import load

    if ENSEMBLE in files:
        return ensemble_from_files(files, source, device)

    from tagger.nn.model import build_model

    config, vocab, meta = _parts(files, source)
    model = build_model(config, vocab)  # its sizes are the weights' (checked on their header): memory as the file's
    try:
        state = load(files["model.safetensors"])
    except Exception as error:  # safetensors raises its own error types for malformed headers
        raise ModelFormatError(f"{source}/model.safetensors: not a safetensors file ({error})") from None
    check_and_load(model, state, f"{source}/model.safetensors")
    segmenter = segmenter_files(files)
    return LoadedModel(model.to(device).eval(), vocab, config, meta,
                       model_from_files(segmenter, f"{source}/{SEGMENTER}", device) if segmenter else None)


def ensemble_files(members: list[Mapping[str, bytes]], crf: str) -> dict[str, bytes]:
    """An ensemble as the bytes of its files: ``ensemble.json`` and each member's files in ``member-N/``."""
    if len(members) < 2:
        from tagger.core.errors import TaggerError

        raise TaggerError(f"an ensemble is two models or more, not {len(members)}")
    names = [f"member-{number}" for number in range(len(members))]
    listed = {"format_version": FORMAT_VERSION, "members": names, "crf": crf}
    files = {ENSEMBLE: json.dumps(listed, indent=2).encode("utf-8")}
    for name, member in zip(names, members):
        files.update({f"{name}/{file}": data for file, data in member.items()})
    return files


def save_ensemble(directory: str | Path, members: list[str | Path], crf: str = "emissions", *, overwrite: bool = False,
                  device: str | torch.device = "cpu") -> LoadedModel:
    """Write an ensemble directory of the model directories ``members`` (their files copied into
    ``member-N/``: it stands alone), after loading it once to check that they label together. TaggerError
    for a directory that holds something (unless ``overwrite``) or is one of the members."""
    from tagger.core.errors import TaggerError

    directory = Path(directory)
    if any(directory.resolve() == Path(member).resolve() for member in members):
        raise TaggerError(f"{directory} is one of the ensemble's members: write the ensemble to a folder of its own")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())) and not overwrite:
        raise TaggerError(f"{directory} already exists and is not empty: choose another folder, or overwrite it")
    files = ensemble_files([read_files(member) for member in members], crf)
    loaded = ensemble_from_files(files, str(directory), device)
    write_files(directory, files)
    return loaded


def ensemble_of(members: list[str | Path], crf: str = "emissions", device: str | torch.device = "cpu") -> LoadedModel:
    """The model directories ``members`` loaded as one ensemble (see :func:`ensemble_from_files`)."""
    files = ensemble_files([read_files(member) for member in members], crf)
    return ensemble_from_files(files, "the ensemble of " + ", ".join(map(str, members)), device)


def member_files(files: Mapping[str, bytes], member: str) -> dict[str, bytes]:
    """One member's files among an ensemble's, by their own names."""
    prefix = f"{member}/"
    return {name.removeprefix(prefix): data for name, data in files.items() if name.startswith(prefix)}


def ensemble_from_files(files: Mapping[str, bytes], source: str, device: str | torch.device = "cpu") -> LoadedModel:
    """An ensemble from the bytes of its files: every member loaded and checked to fit the first."""
    from tagger.nn.ensemble import EnsembleModel

    listed = _ensemble(files[ENSEMBLE], source)
    members = [model_from_files(member_files(files, name), f"{source}/{name}", device) for name in listed["members"]]
    check_members(members, [f"{source}/{name}" for name in listed["members"]])
    first = members[0]
    ensemble = EnsembleModel([member.model for member in members], listed["crf"])  # type: ignore[misc]
    return LoadedModel(ensemble.to(device).eval(), first.vocab, first.config, ensemble_meta(listed, [m.meta for m in members]),
                       first.segmenter, members)


def check_members(members: list[LoadedModel], sources: list[str]) -> None:
    """ModelFormatError unless every member reads the batches the first reads and gives its tasks and labels:
    an ensemble's members label one batch together."""
    first = members[0]
    for member, source in zip(members[1:], sources[1:]):
        differs = ("its tasks" if list(member.config.tasks) != list(first.config.tasks)
                   else "its decoders" if any(member.config.tasks[t].decoder != first.config.tasks[t].decoder for t in first.config.tasks)
                   else "its vocabulary or labels" if member.vocab.to_dict() != first.vocab.to_dict()
                   else "how it reads words (embeddings.char_encoder, max_word_chars)" if (
                       (member.config.embeddings.char_encoder == "sentence_lstm") != (first.config.embeddings.char_encoder == "sentence_lstm")
                       or member.config.embeddings.max_word_chars != first.config.embeddings.max_word_chars)
                   else "")
        if differs:
            raise ModelFormatError(f"{source} cannot label with {sources[0]} in an ensemble: {differs} differ; the members of an "
                                   "ensemble are trainings of one config on one corpus (e.g. tagger train CONFIG --seeds 13,14,15)")


def ensemble_meta(listed: Mapping[str, Any], metas: list[Mapping[str, Any]]) -> dict[str, Any]:
    """What an ensemble's meta is: its first member's, without the scores of that one model, and what it is made of.
    Its weights' digest is one digest of its members' and of how CRF tasks combine: a resumed annotate run
    (:func:`tagger.annotate.resumable.labelling_identity`) sees a changed ensemble as it sees a changed model."""
    first = metas[0]
    finished = all(m.get("training", {}).get("finished") is not False for m in metas)
    weights = json.dumps([listed["crf"], *(m.get("sha256", {}).get("model.safetensors", "") for m in metas)])
    return {**{key: value for key, value in first.items() if key not in ("scores", "sha256", "training")},
            "training": {"finished": finished}, "ensemble": {"members": list(listed["members"]), "crf": listed["crf"]},
            "sha256": {"model.safetensors": hashlib.sha256(weights.encode("utf-8")).hexdigest()}}


def _ensemble(data: bytes, source: str) -> dict[str, Any]:
    """``ensemble.json`` read and checked: its format version, two or more member folders (plain names in the
    directory), and how CRF tasks are combined."""
    from tagger.nn.ensemble import CRF_COMBINATIONS

    where = f"{source}/{ENSEMBLE}"
    listed = _parse_json(data, where)
    if not isinstance(listed, dict) or listed.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(f"{where}: not an ensemble of this package's format version {FORMAT_VERSION}")
    members = listed.get("members")
    if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, str) for m in members):
        raise ModelFormatError(f"{where}: members: a list of two or more model folders, got {members!r}")
    for member in members:
        if not member or member in (".", "..") or "/" in member or "\\" in member:
            raise ModelFormatError(f"{where}: members: {member!r} is not a folder name inside the ensemble's directory")
    if len(set(members)) != len(members):
        raise ModelFormatError(f"{where}: members: a folder is named twice")
    if listed.get("crf", "emissions") not in CRF_COMBINATIONS:
        raise ModelFormatError(f"{where}: crf: {listed.get('crf')!r} is not one of {', '.join(map(repr, CRF_COMBINATIONS))}")
    return {"members": members, "crf": listed.get("crf", "emissions")}


# What meta.json holds, where anything reads it (see Shape). Keys not named here are kept, unread.
NUMBER = (int, float)


@dataclass(frozen=True)
class Shape:
    """A JSON object: the shapes of its known ``keys`` (others are kept unread, or of shape ``each``), and
    those it must have. Elsewhere a shape is a type or a tuple of types (a bool is no number), or ``[shape]``:
    a list of values of that shape."""

    keys: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    each: Any = None


_METRICS = Shape({**{name: NUMBER for name in ("accuracy", "precision", "recall", "f1", "support", "tokens")},
                  "per_label": Shape(each=Shape(each=NUMBER))})
_WORD_SCORES = Shape({"words_f1": NUMBER, "sentences_f1": NUMBER}, required=("words_f1",))
META = Shape({
    "format_version": int,
    "created": str,
    "versions": Shape(each=str),
    "parameters": int,
    "sha256": Shape(each=str),
    "corpora": Shape(each=[str]),
    "training": Shape({"finished": bool, "best_epoch": int, "epochs": int, "seconds": NUMBER, "train_tokens_per_second": NUMBER}),
    "scores": Shape(each=Shape(each=_METRICS)),
    "vectors": Shape({"source": str, "dim": int, "words_with_vectors": int, "training_tokens": NUMBER, "training_types": NUMBER,
                      "frozen": bool}, required=("source", "dim", "words_with_vectors", "training_tokens", "training_types")),
    "seeds": Shape({"chosen": int, "runs": [dict], "summary": Shape(each=Shape(each=Shape({"mean": NUMBER, "sd": NUMBER}, ("mean", "sd"))))},
                   required=("chosen", "runs", "summary")),
    "segmentation": Shape({"lexicon": int, "separator": str,
                           "scores": Shape(each=Shape({"sentences": _WORD_SCORES, "documents": _WORD_SCORES}, ("sentences", "documents")))}),
}, required=("format_version",))
_KINDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", dict: "an object", NUMBER: "a number"}


def check_shape(value: Any, shape: Any, key: str, source: str) -> None:
    """ModelFormatError naming ``source`` and the dotted key of the first part of ``value`` not of ``shape``."""
    if isinstance(shape, Shape):
        if not isinstance(value, dict):
            _misfit(value, "an object", key, source)
        for name in shape.required:
            if name not in value:
                raise ModelFormatError(f"{source}: {key + '.' if key else ''}{name} is missing")
        for name, item in value.items():
            inner = shape.keys.get(name, shape.each)
            if inner is not None:
                check_shape(item, inner, f"{key + '.' if key else ''}{name}", source)
    elif isinstance(shape, list):
        if not isinstance(value, list):
            _misfit(value, "a list", key, source)
        for number, item in enumerate(value):
            check_shape(item, shape[0], f"{key}[{number}]", source)
    elif not isinstance(value, shape) or (isinstance(value, bool) and shape is not bool):
        _misfit(value, _KINDS.get(shape, str(shape)), key, source)


def _misfit(value: Any, expected: str, key: str, source: str) -> None:
    raise ModelFormatError(f"{source}: {key or '(top level)'}: expected {expected}, got {json.dumps(value)[:80]}")


def check_weights(data: bytes, config: TaggerConfig, vocab: Vocab, source: str) -> None:
    """ModelFormatError unless the weights hold exactly the tensors ``config`` and ``vocab`` make, in their shapes,
    read from the weights' header: before any network is built, so that a config edited to sizes the weights do
    not have fails at once, not after allocating them."""
    found = weight_shapes(data, f"{source}/model.safetensors")
    unfit = f"{source}/model.safetensors: the weights do not fit config.json and vocab.json"
    made = set()
    try:
        for name, shape in weight_layout(config, vocab):
            if name not in found:
                raise ModelFormatError(f"{unfit}: they make {name} {shape}, which the weights lack")
            if found[name] != shape:
                raise ModelFormatError(f"{unfit}: {name} has shape {found[name]}, they make it {shape}")
            made.add(name)
    except OverflowError:  # as torch would fail to build it: a masked LM of hundreds of clusters
        raise ModelFormatError(f"{unfit}: config.json asks for sizes beyond any network's") from None
    unexpected = sorted(set(found) - made)
    if unexpected:
        raise ModelFormatError(f"{unfit}: the weights hold {unexpected[0]}, which they do not make")


def weight_shapes(data: bytes, source: str) -> dict[str, tuple[int, ...]]:
    """Name -> shape of each tensor in a safetensors file, from its header alone, checked to describe the file:
    floating-point tensors whose bytes fill it. ModelFormatError naming ``source`` otherwise."""
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if not 0 < size <= min(MAX_WEIGHTS_HEADER, len(data) - 8):
        raise ModelFormatError(f"{source}: not a safetensors file (its {len(data):,} bytes start with no header)")
    header = _parse_json(data[8 : 8 + size], f"{source} (its header)")
    if not isinstance(header, dict):
        raise ModelFormatError(f"{source}: not a safetensors file (its header is not a JSON object)")
    shapes = {}
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        entry = entry if isinstance(entry, dict) else {}
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(dtype, str) and dtype in FLOAT_BYTES and _sizes(shape) and _sizes(offsets) and len(offsets) == 2
                and offsets[1] - offsets[0] == math.prod(shape) * FLOAT_BYTES[dtype]):
            raise ModelFormatError(f"{source}: tensor {name!r} is not a floating-point tensor whose data offsets fit its shape "
                                   f"({json.dumps(entry)[:120]})")
        shapes[name] = tuple(shape)
        end = max(end, offsets[1])
    if 8 + size + end != len(data):
        raise ModelFormatError(f"{source}: {len(data):,} bytes, where its header describes {8 + size + end:,}: "
                               "the file was cut short or added to (copy or train the model again)")
    return shapes


def _sizes(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)


def weight_layout(config: TaggerConfig, vocab: Vocab) -> Iterator[tuple[str, tuple[int, ...]]]:
    """The tensors ``tagger.nn.model.build_model`` makes for ``config`` and ``vocab``, name and shape, worked out
    without torch, one at a time: a check stops at the first one the weights lack, so a config of a million layers
    costs nothing. tests/test_model_dirs.py holds it to build_model for every kind of network."""
    embeddings, encoder = config.embeddings, config.encoder
    chars, words, width = len(vocab.chars), len(vocab.words), embeddings.word_dim
    yield "embeddings.words.weight", (words, embeddings.word_dim)
    if embeddings.char_encoder != "none":
        yield "embeddings.chars.embed.weight", (chars, embeddings.char_dim)
    if embeddings.char_encoder in ("lstm", "sentence_lstm"):
        for layer in ("l0", "l0_reverse"):
            yield from _recurrent("embeddings.chars.lstm", layer, 4, embeddings.char_dim, embeddings.char_hidden)
        width += 2 * embeddings.char_hidden
    elif embeddings.char_encoder == "cnn":
        yield "embeddings.chars.conv.weight", (embeddings.char_hidden, embeddings.char_dim, embeddings.char_kernel)
        yield "embeddings.chars.conv.bias", (embeddings.char_hidden,)
        width += embeddings.char_hidden
    for name, size in embeddings.features.items():
        yield f"embeddings.features.{name}.weight", (len(vocab.features[name]), size)
        width += size
    gates, hidden = (4 if encoder.kind == "lstm" else 3), encoder.hidden_size
    for depth in range(encoder.num_layers):
        for direction in ("forward_rnn", "backward_rnn"):
            yield from _recurrent(f"encoder.layers.{depth}.{direction}", "l0", gates, width if depth == 0 else 2 * hidden, hidden)
    states = 2 * hidden
    for task, task_config in config.tasks.items():
        labels = len(vocab.labels[task])
        yield f"heads.{task}.projection.weight", (labels, states)
        yield f"heads.{task}.projection.bias", (labels,)
        if task_config.decoder == "crf":
            yield from ((f"heads.{task}.crf.{name}", shape) for name, shape in
                        (("transitions", (labels, labels)), ("start", (labels,)), ("end", (labels,))))
    if config.masked_lm.weight > 0:
        cutoffs = sorted({c for c in config.masked_lm.cutoffs if 0 < c < words - 1})  # as MaskedWordHead keeps them
        if cutoffs:  # torch's AdaptiveLogSoftmaxWithLoss(states, words, cutoffs, div_value=4.0)
            yield "masked_lm.adaptive.head.weight", (cutoffs[0] + len(cutoffs), states)
            for cluster, (low, high) in enumerate(zip(cutoffs, [*cutoffs[1:], words])):
                reduced = int(states // 4.0 ** (cluster + 1))
                yield f"masked_lm.adaptive.tail.{cluster}.0.weight", (reduced, states)
                yield f"masked_lm.adaptive.tail.{cluster}.1.weight", (high - low, reduced)
        else:
            yield "masked_lm.projection.weight", (words, states)
            yield "masked_lm.projection.bias", (words,)
    if config.char_lm.weight > 0 and embeddings.char_encoder == "sentence_lstm":
        for direction in ("forward", "backward"):
            yield f"char_lm.{direction}_projection.weight", (chars, embeddings.char_hidden)
            yield f"char_lm.{direction}_projection.bias", (chars,)


def _recurrent(prefix: str, layer: str, gates: int, inputs: int, hidden: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    """The weights of one layer (one direction) of a torch LSTM (4 gates) or GRU (3)."""
    yield f"{prefix}.weight_ih_{layer}", (gates * hidden, inputs)
    yield f"{prefix}.weight_hh_{layer}", (gates * hidden, hidden)
    yield f"{prefix}.bias_ih_{layer}", (gates * hidden,)
    yield f"{prefix}.bias_hh_{layer}", (gates * hidden,)
