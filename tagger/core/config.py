"""The config: a typed dataclass tree, loaded from TOML, overridable by dotted keys.

A resolved config (every default filled in) is saved with each model as JSON, so a
model always records exactly how it was built.
"""

from __future__ import annotations

import codecs
import dataclasses
import functools
import json
import math
import os
import re
import stat
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from tagger.core.errors import ConfigError, not_utf8


@dataclass(frozen=True)
class Range:
    """The values a number may take, declared on its field: ``Annotated[int, POSITIVE]``."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the bound itself is not allowed
    high_open: bool = False

    def check(self, value: float, key: str, source: str | None) -> None:
        low_ok = self.low is None or (value > self.low if self.low_open else value >= self.low)
        high_ok = self.high is None or (value < self.high if self.high_open else value <= self.high)
        if not (low_ok and high_ok):
            raise ConfigError(key, f"must be {self}, got {value!r}", source)

    def __str__(self) -> str:
        if self.high is None:
            return ("positive" if self.low_open else "0 or more") if self.low == 0 else f"{'over' if self.low_open else 'at least'} {self.low}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NON_NEGATIVE = Range(0)
PROBABILITY = Range(0, 1)
DROPOUT = Range(0, 1, high_open=True)  # 1 would drop everything
Positive = Annotated[int, POSITIVE]
Count = Annotated[int, NON_NEGATIVE]  # 0 usually means "none" or "no limit"
# Layer sizes: far above any tagger's, far below what fails to allocate (or overflows) in torch.
MAX_SIZE = 8192
Size = Annotated[int, Range(1, MAX_SIZE)]
Layers = Annotated[int, Range(1, 64)]
MAX_THREADS = 1024  # torch starts every thread it is asked for: a million exhausts the memory
Threads = Annotated[int, Range(0, MAX_THREADS)]  # torch threads; 0: one per core that is idle (tagger.core.runtime)
BatchSize = Annotated[int, Range(1)]  # sentences per forward pass
SEED = Range(-(2**63), 2**63 - 1)  # a signed 64-bit seed, as torch.manual_seed takes (models saved before this bound load as they did)
MAX_INT = 2**63 - 1  # any other whole number: what torch and islice take
MAX_CONFIG_BYTES = 1 << 20  # a config is a few kB; this bound keeps /dev/zero or a corpus given by mistake out of memory
DEVICE = re.compile(r"auto|cpu|mps(?::0)?|cuda(?::(\d+))?")  # torch numbers CUDA devices with a signed byte: N up to 127
DEVICE_HELP = '"auto" (CUDA when there is one), "cpu", "cuda", "cuda:N" (N up to 127) or "mps"'


def device_problem(spec: str) -> str | None:
    """Why ``spec`` is no device name, else None (whether this machine has it is :func:`tagger.core.runtime.check_device`'s)."""
    found = DEVICE.fullmatch(spec) if isinstance(spec, str) else None
    if not found or int(found[1] or 0) > 127:
        return f"{spec!r} is not {DEVICE_HELP}"
    return None


# --- settings: frozen dataclasses whose fields are checked by their annotations ---------------------
# One way to declare a value a user sets, used by the config's sections (loaded from TOML), by
# RunOptions (tagger.core.runtime), the service's settings and annotate's options: the annotation
# (with a Range, or a Literal) says what it takes, ``setting`` gives its help and command-line flag,
# and ``check_settings`` (called in ``__post_init__``) refuses a bad value with a ConfigError naming
# the field. Command-line options are declared from the same fields (tagger.cli.options, serve.py).


def setting(default: Any, help: str, *, flag: str | None = None, shown: str | None = None) -> Any:
    """A settings field: its ``default``, ``help``, its command-line ``flag`` when not ``--field-name``, and
    its default as the help shows it (``shown``) when not the value itself."""
    return field(default=default, metadata={"help": help, "flag": flag, "shown": shown})


@functools.cache
def field_types(kind: type) -> dict[str, Any]:
    """The annotations of the dataclass ``kind``'s fields, with their Ranges (read once per class: checks run per call)."""
    return typing.get_type_hints(kind, include_extras=True)


def check_settings(settings: Any, source: str | None = None) -> None:
    """ConfigError naming the first field of the dataclass ``settings`` whose value its annotation refuses."""
    hints = field_types(type(settings))
    for item in dataclasses.fields(settings):
        value, kind = getattr(settings, item.name), hints[item.name]
        if dataclasses.is_dataclass(kind) and isinstance(value, kind):
            continue  # settings inside settings (a RunOptions): checked when made
        _convert(value, kind, item.name, source)


@dataclass(frozen=True)
class Option:
    """One settings field as a command-line option (:func:`options_of`)."""

    owner: type  # the settings dataclass
    name: str  # the field
    flag: str  # --max-batch
    kind: type  # int, float or str
    optional: bool  # None is a value (the default)
    default: Any
    help: str
    shown: str | None  # the default as the help shows it, when not the value itself

    def parse(self, text: str) -> Any:
        """``text`` as this option's value, checked as the field is; ConfigError (naming the field) otherwise."""
        try:
            value = self.kind(text)
        except ValueError:
            raise ConfigError(self.name, f"{text!r} is not a{'n integer' if self.kind is int else ' number'}") from None
        return check_setting(self.owner, self.name, value)


def options_of(kind: type, names: typing.Collection[str] | None = None) -> list[Option]:
    """The fields of the settings dataclass ``kind`` (those in ``names``, or all) as command-line options, in field order."""
    hints = typing.get_type_hints(kind)
    found = []
    for item in dataclasses.fields(kind):
        if names is not None and item.name not in names or "help" not in item.metadata:
            continue
        kinds = typing.get_args(hints[item.name]) or (hints[item.name],)  # int | None: (int, NoneType)
        base = kinds[0] if typing.get_origin(hints[item.name]) is not Literal else str
        found.append(Option(kind, item.name, item.metadata["flag"] or "--" + item.name.replace("_", "-"), base, type(None) in kinds, item.default,
                            item.metadata["help"], item.metadata["shown"]))
    return found


def check_setting(kind: type, name: str, value: Any) -> Any:
    """``value`` checked (and converted: an int for a float) as the field ``name`` of the settings dataclass ``kind``."""
    return _convert(value, field_types(kind)[name], name, None)


@dataclass
class SourceConfig:
    """One corpus: a file path, a catalogue entry (``"ud-en-ewt:train"``) or a ``datasets`` dataset."""

    path: str = ""
    format: str = ""  # "" infers it from the file extension
    columns: dict[str, int | str] = field(default_factory=dict)  # task -> column index (files) or field (JSONL, datasets)
    token_column: Count = 0
    dataset: str = ""  # a Hugging Face dataset: hub name, save_to_disk folder, or builder ("json", "csv", "parquet")
    data_files: list[str] = field(default_factory=list)  # local files for a builder dataset
    split: str = "train"
    tokens_field: str = "tokens"

    @property
    def name(self) -> str:
        """How the source is named in meta.json and reports: its path, or ``dataset:split``."""
        return self.path or f"{self.dataset}:{self.split}"


@dataclass
class DataConfig:
    """Training, development and test corpora. Several sources are merged by ``sent_id``."""

    train: list[SourceConfig] = field(default_factory=list)
    dev: list[SourceConfig] = field(default_factory=list)
    test: list[SourceConfig] = field(default_factory=list)
    max_train_sentences: Count = 0  # 0: no limit


@dataclass
class TaskConfig:
    """A labelling task. ``scheme`` empty: one label per token (accuracy); else a span task."""

    decoder: Literal["softmax", "crf"] = "softmax"
    scheme: Literal["", "BIO", "BIOES", "IOB1"] = ""  # scheme the head is trained and decodes in
    strict: bool = False  # reject I- tags that continue no span instead of repairing them
    weight: Annotated[float, NON_NEGATIVE] = 1.0  # loss weight


DEFAULT_WORD_DIM = 100  # without pretrained vectors


@dataclass
class EmbeddingsConfig:
    word_dim: Annotated[int, Range(0, MAX_SIZE)] = 0  # 0: the pretrained vectors' size, else DEFAULT_WORD_DIM
    min_freq: Count = 2  # words rarer than this in training map to <unk>
    lowercase: bool = True  # word keys are lower-cased, digits mapped to 0
    word_dropout: Annotated[float, DROPOUT] = 0.05  # chance that a training token is replaced by <unk>
    char_encoder: Literal["lstm", "cnn", "sentence_lstm", "none"] = "lstm"  # sentence_lstm: one LSTM over the whole sentence
    char_dim: Size = 50
    char_hidden: Size = 100  # per direction for lstm and sentence_lstm; filters for cnn
    char_kernel: Annotated[int, Range(1, 99)] = 3  # cnn only; odd
    max_word_chars: Annotated[int, Range(1, 10_000)] = 30
    pretrained: str = ""  # word vectors: a file (GloVe, word2vec/fastText text or binary, compressed or not), a catalogue name, spacy:NAME
    max_vectors: Count = 200_000  # the vectors' first (most frequent) words that join the training words; 0: training words only
    freeze_vectors: bool = False  # keep the pretrained rows as read (small data); the others still train
    max_words: Count = 0  # keep only the most frequent training words; 0: no limit
    features: dict[str, Size] = field(default_factory=dict)  # extra per-token features (Sentence.features) -> embedding size
    dropout: Annotated[float, DROPOUT] = 0.33


@dataclass
class EncoderConfig:
    kind: Literal["lstm", "gru"] = "lstm"
    hidden_size: Size = 256  # per direction; states are 2 * hidden_size per token
    num_layers: Layers = 2
    dropout: Annotated[float, DROPOUT] = 0.33
    locked_dropout: bool = False  # one dropout mask per sentence (variational) on the encoder's inputs, between layers and on its outputs


@dataclass
class TrainingConfig:
    batch_size: Positive = 32  # sentences
    max_epochs: Positive = 30
    max_minutes: Annotated[float, NON_NEGATIVE] = 0.0  # stop after the epoch that passes this; 0: no limit
    patience: Count = 5  # epochs without dev improvement before stopping; 0: never
    learning_rate: Annotated[float, NON_NEGATIVE] = 2e-3  # 0: no updates (to check a model as it starts)
    weight_decay: Annotated[float, NON_NEGATIVE] = 0.0
    betas: list[Annotated[float, Range(0, 1, high_open=True)]] = field(default_factory=lambda: [0.9, 0.9])
    clip_norm: Annotated[float, NON_NEGATIVE] = 5.0  # 0: no clipping
    optimizer: Literal["adamw", "nadam"] = "adamw"  # nadam: Adam with Nesterov momentum (decoupled weight decay)
    average: Annotated[float, Range(0, 1, high_open=True)] = 0.0  # decay of a moving average of the weights, which is scored and saved (e.g. 0.999); 0: off
    schedule: Literal["constant", "linear", "cosine", "plateau"] = "linear"
    warmup_steps: Count = 100
    threads: Threads = 0  # torch intra-op threads; 0: one per core idle when training starts
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    precision: Literal["fp32", "bf16"] = "fp32"  # "bf16": bfloat16 autocast of forward and loss, CUDA only
    eval_batch_size: Positive = 256
    select_by: list[str] = field(default_factory=list)  # tasks whose mean dev score picks the best epoch; empty: all


@dataclass
class MaskedLMConfig:
    """Masked-token prediction: a head on the encoder that fills in blanked words.

    ``weight`` > 0 adds it to a tagger as an auxiliary loss; ``tagger pretrain`` trains it alone.
    Of the tokens, ``rate`` are chosen; of those, ``mask`` become the mask token, ``random`` a
    random word, and the rest stay as they are (BERT's 80/10/10).
    """

    weight: Annotated[float, NON_NEGATIVE] = 0.0
    rate: Annotated[float, PROBABILITY] = 0.15
    mask: Annotated[float, PROBABILITY] = 0.8
    random: Annotated[float, PROBABILITY] = 0.1
    cutoffs: list[Positive] = field(default_factory=lambda: [2000, 10000])  # adaptive softmax clusters (word ranks)


@dataclass
class DistillConfig:
    """Learning from a teacher's label distributions (knowledge distillation): each task's loss is
    ``weight`` times the cross-entropy with the teacher's per-token distributions (softmax
    probabilities; a CRF's marginals, matched by the student's own CRF marginals) and ``1 - weight``
    times the gold labels' loss. An ensemble of seeds (``DIR/ensemble`` of ``tagger train --seeds``)
    is the usual teacher: one model then learns most of what the ensemble knows."""

    teacher: str = ""  # a model or ensemble directory with the tasks of this config; "": off
    weight: Annotated[float, PROBABILITY] = 0.5


@dataclass
class CharLMConfig:
    """A character language model on the training text, as an auxiliary loss (LM-LSTM-CRF, Liu et
    al. 2018): the sentence-level character LSTM (``embeddings.char_encoder = "sentence_lstm"``)
    predicts each next character forwards and each previous one backwards."""

    weight: Annotated[float, NON_NEGATIVE] = 0.0


@dataclass
class PretrainConfig:
    """``tagger pretrain``: steps, checkpoints and the shuffle buffer of the text stream."""

    max_steps: Count = 0  # 0: until training.max_epochs passes over the data or training.max_minutes
    checkpoint_every: Positive = 500  # steps
    shuffle_buffer: Positive = 4096  # sentences shuffled and sorted by length together
    vocab_sentences: Count = 0  # sentences counted for the vocabulary; 0: all


@dataclass
class SegmenterConfig:
    """A word (and sentence) segmenter learned from the corpus's raw text, which then reads raw text in
    place of spaCy's tokenizer (see :mod:`tagger.model.segmenter`). The other keys size its network and training;
    threads, device and time budget are ``[training]``'s."""

    train: bool = False  # train one in this run, from data.train's text and words (dev and test score it)
    model: str = ""  # or carry a trained one: a model directory holding segmenter/ (or a segmenter directory)
    sentences: bool = True  # also learn where sentences start, from consecutive sentences of a document
    folds: Annotated[int, Range(2, 100)] = 5  # training sentences see the lexicon of the other folds
    unit_dim: Size = 64  # characters
    bigram_dim: Size = 64
    lexicon_dim: Size = 16  # each of the two lexicon features
    kind_dim: Size = 8  # the character's Unicode category (and script)
    min_freq: Positive = 2  # characters and bigrams rarer than this in training are <unk>
    unit_dropout: Annotated[float, DROPOUT] = 0.1  # chance that a training unit's character and features are <unk>
    hidden_size: Size = 128
    num_layers: Layers = 2
    dropout: Annotated[float, DROPOUT] = 0.33
    batch_size: Positive = 16  # texts of 1-3 sentences
    learning_rate: Annotated[float, POSITIVE] = 2e-3
    max_epochs: Positive = 30
    patience: Count = 5


@dataclass
class TaggerConfig:
    seed: Annotated[int, SEED] = 13
    lang: str = "en"  # spaCy language of the tokenizer used for raw text (unless a segmenter reads it)
    init_from: str = ""  # a model directory (e.g. from tagger pretrain) whose embeddings and encoder start this model
    data: DataConfig = field(default_factory=DataConfig)
    tasks: dict[str, TaskConfig] = field(default_factory=dict)
    embeddings: EmbeddingsConfig = field(default_factory=EmbeddingsConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    masked_lm: MaskedLMConfig = field(default_factory=MaskedLMConfig)
    char_lm: CharLMConfig = field(default_factory=CharLMConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)

    @property
    def has_segmenter(self) -> bool:
        """Whether the model reads raw text through a segmenter of its own (trained or carried)."""
        return self.segmenter.train or bool(self.segmenter.model)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as dotted keys: ``{"encoder": {"kind": "lstm"}}`` -> ``{"encoder.kind": "lstm"}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def changed_keys(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for each leaf that differs between two nested dicts, sorted."""
    before, after = flatten(old), flatten(new)
    return [(key, before.get(key), after.get(key)) for key in sorted(before.keys() | after.keys()) if before.get(key) != after.get(key)]


def load_config_file(path: str | Path, overrides: list[str] | None = None) -> TaggerConfig:
    """Read a TOML config file, apply ``key.sub=value`` overrides, validate and fill defaults (a name
    such as ``quickstart`` or ``ud-fr-gsd`` is found by :func:`tagger.data.configs.load_config`)."""
    path = Path(path)
    try:
        raw = tomllib.loads(read_config_text(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("", f"invalid TOML: {error}", str(path)) from None
    for override in overrides or []:
        apply_override(raw, override)
    return config_from_raw(raw, path)


def read_config_text(path: Path) -> str:
    """A config file's text: a regular file of at most MAX_CONFIG_BYTES, UTF-8 with or without a BOM.
    ConfigError naming the file for anything else (a device such as /dev/zero, a directory, UTF-16)."""
    try:
        mode = path.stat().st_mode  # before opening: opening a pipe waits for a writer
        if stat.S_ISDIR(mode):
            raise ConfigError("", "a directory, not a config file", str(path))
        if not stat.S_ISREG(mode):
            raise ConfigError("", "not a regular file (a device, pipe or socket): give a TOML config file", str(path))
        with open(path, "rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("", "no such config file", str(path)) from None
    except OSError as error:
        raise ConfigError("", f"cannot read it: {os.strerror(error.errno) if error.errno else error}", str(path)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"larger than {MAX_CONFIG_BYTES // 1024} kB: not a config (a config is a TOML file of a few kB)", str(path))
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError("", "UTF-16 or UTF-32 text (it starts with a byte-order mark): save it as UTF-8", str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError("", f"{not_utf8(data, error)}: save it as UTF-8", str(path)) from None
    return text.removeprefix("\ufeff")  # a UTF-8 byte-order mark, as some Windows editors write


def config_from_raw(raw: dict[str, Any], path: Path, source: str = "") -> TaggerConfig:
    """The config of raw values read from ``path`` (relative paths in it are relative to that file),
    checked; errors name ``source`` (default the path)."""
    config = from_dict(raw, source=source or str(path))
    _check_language(config, source or str(path))  # here, not in from_dict: loading a model need not import spaCy
    _resolve_relative_paths(config, path.parent)
    return config


def from_dict(raw: dict[str, Any], source: str | None = None) -> TaggerConfig:
    config = _convert(raw, TaggerConfig, "", source)
    validate(config, source)
    return config


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``a.b.c=value`` in a nested dict; the value is parsed as TOML, else kept as a string."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(override, "an override is written key.sub=value")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(key, f"{part!r} is not a table")
    node[parts[-1]] = value


def validate(config: TaggerConfig, source: str | None = None) -> None:
    if not config.tasks and config.masked_lm.weight <= 0 and not config.segmenter.train:
        raise ConfigError("tasks", "name at least one task, e.g. [tasks.upos] (or set masked_lm.weight to pretrain, "
                          "or segmenter.train = true to train a segmenter alone)", source)
    masked = config.masked_lm
    if masked.mask + masked.random > 1.0:
        raise ConfigError("masked_lm.random", f"mask + random must be at most 1, got {masked.mask + masked.random}", source)
    if config.char_lm.weight > 0 and config.embeddings.char_encoder != "sentence_lstm":
        raise ConfigError("char_lm.weight", 'the character LM reads the sentence-level character LSTM: set embeddings.char_encoder = "sentence_lstm"', source)
    for name, task in config.tasks.items():
        if task.decoder == "crf" and not task.scheme:
            raise ConfigError(f"tasks.{name}.scheme", "a CRF task needs a span scheme (BIO or BIOES)", source)
        if task.scheme == "IOB1":
            raise ConfigError(f"tasks.{name}.scheme", "train in BIO or BIOES; IOB1 input is converted", source)
    unknown = [task for task in config.training.select_by if task not in config.tasks]
    if unknown:
        raise ConfigError("training.select_by", f"{unknown[0]!r} is not a task; tasks: {', '.join(config.tasks)}", source)
    embeddings = config.embeddings
    if not embeddings.word_dim and not embeddings.pretrained:
        embeddings.word_dim = DEFAULT_WORD_DIM  # with vectors, training sets it from them
    if embeddings.char_kernel % 2 == 0:
        raise ConfigError("embeddings.char_kernel", f"must be odd (the convolution is centred on each character), got {embeddings.char_kernel}", source)
    if len(config.training.betas) != 2:
        raise ConfigError("training.betas", f"AdamW takes two betas, got {len(config.training.betas)}", source)
    if config.segmenter.train and config.segmenter.model:
        raise ConfigError("segmenter.model", "give a trained segmenter or segmenter.train = true, not both", source)
    if (problem := device_problem(config.training.device)) is not None:
        raise ConfigError("training.device", problem, source)


def _check_language(config: TaggerConfig, source: str | None) -> None:
    """An unknown spaCy language, or one whose tokenizer needs a package that is missing (unless a segmenter
    reads raw text), fails here, not at the first raw text after training."""
    from spacy.util import get_lang_class

    from tagger.core.errors import TaggerError
    from tagger.core.tokenize import needs_spacy_tokenizer, spacy_tokenizer

    try:
        get_lang_class(config.lang)
    except (ImportError, KeyError, ValueError):
        raise ConfigError("lang", f"{config.lang!r} is not a spaCy language code (such as en, de, fr, xx for many)", source) from None
    if needs_spacy_tokenizer(config):
        try:
            spacy_tokenizer(config.lang)
        except TaggerError as error:
            raise ConfigError("lang", str(error), source) from None


def _resolve_relative_paths(config: TaggerConfig, base: Path) -> None:
    """Paths in a config file are relative to that file, unless they exist from here or name a corpus."""
    for sources in (config.data.train, config.data.dev, config.data.test):
        for source in sources:
            if source.path and ":" not in source.path and not Path(source.path).exists():
                candidate = base / source.path
                if candidate.exists():
                    source.path = str(candidate)
    pretrained = config.embeddings.pretrained
    if pretrained and not pretrained.startswith("spacy:") and not Path(pretrained).exists() and (base / pretrained).exists():
        config.embeddings.pretrained = str(base / pretrained)
    for section, key in ((config, "init_from"), (config.segmenter, "model")):
        value = getattr(section, key)
        if value and not Path(value).exists() and (base / value).exists():
            setattr(section, key, str(base / value))


def _float(value: int, where: str, source: str | None) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float: 10**400
        raise ConfigError(where, f"{value} is too large", source) from None


def _convert(value: Any, kind: Any, key: str, source: str | None) -> Any:
    """Check ``value`` against the type annotation ``kind`` and build dataclasses recursively."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    where = key or "(top level)"
    if dataclasses.is_dataclass(kind):
        if kind is SourceConfig and isinstance(value, str):
            value = {"path": value}
        if not isinstance(value, dict):
            raise ConfigError(where, f"expected a table, got {type(value).__name__}", source)
        hints = field_types(kind)
        names = {f.name for f in dataclasses.fields(kind)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ConfigError(f"{key + '.' if key else ''}{unknown[0]}", f"unknown key; allowed here: {', '.join(sorted(names))}", source)
        return kind(**{name: _convert(item, hints[name], f"{key + '.' if key else ''}{name}", source) for name, item in value.items()})
    if origin is Annotated:
        if args[0] is int and isinstance(value, int) and not isinstance(value, bool):  # the range's words, not "too large"
            for extra in args[1:]:
                if isinstance(extra, Range):
                    extra.check(value, where, source)
        checked = _convert(value, args[0], key, source)
        for extra in args[1:]:
            if isinstance(extra, Range):
                extra.check(checked, where, source)
        return checked
    if origin is Literal:
        if value not in args:
            raise ConfigError(where, f"{value!r} is not one of {', '.join(repr(a) for a in args)}", source)
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        if len(kinds := [a for a in args if a is not type(None)]) == 1:  # X | None: X's own words
            return _convert(value, kinds[0], key, source)
        for option in args:
            try:
                return _convert(value, option, key, source)
            except ConfigError:
                continue
        raise ConfigError(where, f"{value!r} is not a {' or '.join(getattr(a, '__name__', str(a)) for a in args)}", source)
    if origin is list:
        if isinstance(value, (str, dict)) and args and dataclasses.is_dataclass(args[0]):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(where, f"expected a list, got {type(value).__name__}", source)
        return [_convert(item, args[0], f"{key}[{i}]", source) for i, item in enumerate(value)]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, tuple):
            raise ConfigError(where, f"expected a tuple, got {type(value).__name__}", source)
        return tuple(_convert(item, args[0], f"{key}[{i}]", source) for i, item in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(where, f"expected a table, got {type(value).__name__}", source)
        return {name: _convert(item, args[1], f"{key}.{name}", source) for name, item in value.items()}
    if kind is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(where, f"expected a path, got {value!r}", source)
        return Path(value)
    if kind is type(None):
        if value is not None:
            raise ConfigError(where, f"expected None, got {value!r}", source)
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = _float(value, where, source)
    if kind in (int, str, bool, float):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(where, f"expected {kind.__name__}, got {value!r}", source)
        if kind is float and not math.isfinite(value):
            raise ConfigError(where, f"must be a finite number, got {value!r}", source)
        if kind is int and abs(value) > MAX_INT:
            raise ConfigError(where, f"{value} is too large (at most {MAX_INT})", source)
        return value
    raise ConfigError(where, f"unsupported type {kind}", source)
