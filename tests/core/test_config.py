"""TOML config loading, validation and overrides; the corpus catalogue (never the network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tiny_config_dict

from tagger.core.config import (
    DataConfig,
    EncoderConfig,
    SourceConfig,
    TaggerConfig,
    TaskConfig,
    TrainingConfig,
    apply_override,
    from_dict,
)
from tagger.core.errors import ConfigError
from tagger.data import catalogue
from tagger.data.configs import load_config

MINIMAL = '[tasks.upos]\n'


def write_config(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str, overrides: list[str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, text), overrides)
    return info.value


# --------------------------------------------------------------------------- loading and defaults

def test_defaults_filled(tmp_path):
    config = load_config(write_config(tmp_path, MINIMAL + "[encoder]\nhidden_size = 64\n"))
    assert config.tasks == {"upos": TaskConfig()}
    assert config.encoder == EncoderConfig(hidden_size=64)
    assert config.training == TrainingConfig()
    assert config.data == DataConfig()
    assert config.seed == 13 and config.embeddings.char_encoder == "lstm"


def test_int_accepted_for_float(tmp_path):
    config = load_config(write_config(tmp_path, MINIMAL + "[training]\nlearning_rate = 1\nbetas = [0, 0.5]\n"))
    assert config.training.learning_rate == 1.0 and isinstance(config.training.learning_rate, float)
    assert config.training.betas == [0.0, 0.5]


def test_data_source_shorthands(tmp_path):
    text = MINIMAL + """
[data]
train = "x.conll"
dev = ["a.conllu", "b.iob2"]

[[data.test]]
path = "t.conll"
columns = { upos = 1, ner = 3 }
token_column = 0
format = "conll"
"""
    config = load_config(write_config(tmp_path, text))
    assert config.data.train == [SourceConfig(path="x.conll")]
    assert config.data.dev == [SourceConfig(path="a.conllu"), SourceConfig(path="b.iob2")]
    assert config.data.test == [SourceConfig(path="t.conll", format="conll", columns={"upos": 1, "ner": 3})]


def test_data_source_single_table_and_dataset(tmp_path):
    text = MINIMAL + '[data.train]\ndataset = "conll2003"\nsplit = "validation"\ncolumns = { upos = "pos_tags" }\n'
    config = load_config(write_config(tmp_path, text))
    assert config.data.train == [SourceConfig(dataset="conll2003", split="validation", columns={"upos": "pos_tags"})]


def test_corpus_references_kept(tmp_path):
    config = load_config(write_config(tmp_path, MINIMAL + '[data]\ntrain = "sample:train"\n'))
    assert config.data.train[0].path == "sample:train"


def test_quickstart_config_loads():
    config = load_config(Path(__file__).parents[2] / "configs" / "quickstart.toml")
    assert config.tasks["ner"] == TaskConfig(decoder="crf", scheme="BIOES")
    assert config.data.train == [SourceConfig(path="sample:train")]


# --------------------------------------------------------------------------- errors

def test_unknown_key_names_dotted_key(tmp_path):
    error = error_for(tmp_path, MINIMAL + "[encoder]\nhiden_size = 64\n")
    assert error.key == "encoder.hiden_size"
    assert "encoder.hiden_size" in str(error)
    assert "hidden_size" in str(error)  # lists what is allowed
    assert "config.toml" in str(error)


def test_unknown_top_level_and_nested_keys(tmp_path):
    assert error_for(tmp_path, "sed = 1\n" + MINIMAL).key == "sed"
    assert error_for(tmp_path, MINIMAL + '[data.train]\npath = "x"\ncolums = {}\n').key == "data.train[0].colums"
    assert error_for(tmp_path, "[tasks.ner]\ndecodr = 'crf'\n").key == "tasks.ner.decodr"


@pytest.mark.parametrize("text,key", [
    ('[encoder]\nhidden_size = "big"\n', "encoder.hidden_size"),
    ("[training]\nmax_epochs = 2.5\n", "training.max_epochs"),
    ("[training]\nmax_epochs = true\n", "training.max_epochs"),
    ("[embeddings]\nlowercase = 1\n", "embeddings.lowercase"),
    ("[training]\nlearning_rate = \"fast\"\n", "training.learning_rate"),
    ("seed = [1]\n", "seed"),
    ("encoder = 3\n", "encoder"),
    ('[data]\ntrain = 5\n', "data.train"),
    ('[data.train]\npath = "x"\ntoken_column = "1"\n', "data.train[0].token_column"),
    ('[data.train]\npath = "x"\ncolumns = { ner = 1.5 }\n', "data.train[0].columns.ner"),
])
def test_wrong_type_names_key(tmp_path, text, key):
    error = error_for(tmp_path, text + MINIMAL)
    assert error.key == key
    assert key in str(error)


def test_literal_violation_lists_allowed_values(tmp_path):
    error = error_for(tmp_path, MINIMAL + '[encoder]\nkind = "transformer"\n')
    assert error.key == "encoder.kind"
    assert "'transformer'" in str(error)
    assert "'lstm'" in str(error) and "'gru'" in str(error)


def test_crf_task_needs_scheme(tmp_path):
    error = error_for(tmp_path, '[tasks.ner]\ndecoder = "crf"\n')
    assert error.key == "tasks.ner.scheme"


def test_iob1_training_scheme_rejected(tmp_path):
    assert error_for(tmp_path, '[tasks.ner]\ndecoder = "crf"\nscheme = "IOB1"\n').key == "tasks.ner.scheme"


def test_no_task(tmp_path):
    assert error_for(tmp_path, "seed = 1\n").key == "tasks"


@pytest.mark.parametrize("text,key", [
    ("[encoder]\nhidden_size = 0\n", "encoder.hidden_size"),
    ("[training]\nbatch_size = -1\n", "training.batch_size"),
    ("[encoder]\ndropout = 1.0\n", "encoder.dropout"),
    ("[embeddings]\nword_dropout = -0.1\n", "embeddings.word_dropout"),
])
def test_range_checks(tmp_path, text, key):
    assert error_for(tmp_path, text + MINIMAL).key == key


def test_invalid_toml_and_missing_file(tmp_path):
    error = error_for(tmp_path, "[tasks.upos\n")
    assert "invalid TOML" in str(error)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("override,key", [
    ("training.learning_rate=inf", "training.learning_rate"),
    ("tasks.upos.weight=inf", "tasks.upos.weight"),
    ("masked_lm.weight=-inf", "masked_lm.weight"),
    ("training.max_minutes=nan", "training.max_minutes"),
    ("training.betas=[0.9, nan]", "training.betas[1]"),
    ("training.clip_norm=1e400", "training.clip_norm"),  # TOML reads it as inf
])
def test_non_finite_numbers_are_refused_with_their_key(tmp_path, override, key):
    error = error_for(tmp_path, MINIMAL, [override])
    assert error.key == key and "must be a finite number" in str(error)
    assert error_for(tmp_path, MINIMAL + "[training]\nweight_decay = nan\n").key == "training.weight_decay"


@pytest.mark.parametrize("override,key,message", [
    ("training.threads=1000000", "training.threads", "must be in [0, 1024], got 1000000"),
    (f"seed={2**70}", "seed", "must be in [-9223372036854775808, 9223372036854775807]"),
    (f"seed={-2**63 - 1}", "seed", "must be in [-9223372036854775808, 9223372036854775807]"),
    (f"encoder.hidden_size={10**30}", "encoder.hidden_size", "must be in [1, 8192]"),
    (f"embeddings.char_dim={2**40}", "embeddings.char_dim", "must be in [1, 8192]"),
    ("encoder.num_layers=100000", "encoder.num_layers", "must be in [1, 64]"),
    ("segmenter.folds=1000000", "segmenter.folds", "must be in [2, 100]"),
    (f"training.max_epochs={2**64}", "training.max_epochs", f"{2**64} is too large (at most {2**63 - 1})"),
    (f"data.max_train_sentences={2**63}", "data.max_train_sentences", "is too large"),
    (f"training.learning_rate={10**400}", "training.learning_rate", "is too large"),
    ('training.device="cuda:999"', "training.device", '"cuda:N" (N up to 127)'),
])
def test_numbers_too_large_for_torch_are_refused_with_their_key(tmp_path, override, key, message):
    error = error_for(tmp_path, MINIMAL, [override])
    assert error.key == key and message in str(error), str(error)


def write_bytes(tmp_path, data: bytes) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    return path


def test_a_utf8_byte_order_mark_is_read_past(tmp_path):
    config = load_config(write_bytes(tmp_path, b"\xef\xbb\xbf" + (MINIMAL + "[encoder]\nhidden_size = 64\n").encode()))
    assert config.encoder.hidden_size == 64


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_config_is_refused_naming_the_file(tmp_path, encoding):
    text = "\ufeff" + MINIMAL if encoding == "utf-16-be" else MINIMAL  # utf-16 and utf-32 write a byte-order mark themselves
    path = write_bytes(tmp_path, text.encode(encoding))
    with pytest.raises(ConfigError, match="UTF-16 or UTF-32 text .*: save it as UTF-8") as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_config_in_another_encoding_is_refused_with_the_byte(tmp_path):
    path = write_bytes(tmp_path, "lang = \"fr\" # é\n".encode("latin-1") + MINIMAL.encode())
    with pytest.raises(ConfigError, match=r"not valid UTF-8 \(byte 14\): b'\\xe9\\n\[t': save it as UTF-8"):
        load_config(path)


def test_a_config_that_is_no_regular_file_or_too_large_is_refused_unread(tmp_path):
    import os
    import signal

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    signal.signal(signal.SIGALRM, lambda *_: pytest.fail("opened a pipe that nothing writes to"))
    signal.alarm(10)
    try:
        with pytest.raises(ConfigError, match="not a regular file"):
            load_config(fifo)
    finally:
        signal.alarm(0)
    huge = write_config(tmp_path, MINIMAL + "#" * (1 << 20))
    with pytest.raises(ConfigError, match="larger than 1024 kB: not a config"):
        load_config(huge)
    with pytest.raises(ConfigError, match="a directory, not a config file"):
        load_config(tmp_path)


# --------------------------------------------------------------------------- overrides

def test_overrides(tmp_path):
    path = write_config(tmp_path, MINIMAL + "[training]\nmax_epochs = 30\n")
    config = load_config(path, ["training.max_epochs=3", 'encoder.kind="gru"', "data.max_train_sentences=10"])
    assert config.training.max_epochs == 3
    assert config.encoder.kind == "gru"
    assert config.data.max_train_sentences == 10
    assert config.training.batch_size == 32  # untouched


def test_override_bare_string_and_new_table(tmp_path):
    path = write_config(tmp_path, MINIMAL)
    config = load_config(path, ["training.device=cuda:1", "tasks.ner.decoder=crf", "tasks.ner.scheme=BIO",
                                "data.train=sample:train"])
    assert config.training.device == "cuda:1"
    assert config.tasks["ner"] == TaskConfig(decoder="crf", scheme="BIO")
    assert config.data.train == [SourceConfig(path="sample:train")]


def test_override_is_validated(tmp_path):
    path = write_config(tmp_path, MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config(path, ["encoder.kind=transformer"])
    assert info.value.key == "encoder.kind"
    with pytest.raises(ConfigError) as info:
        load_config(path, ["encoder.hiden_size=3"])
    assert info.value.key == "encoder.hiden_size"


def test_override_syntax_errors():
    with pytest.raises(ConfigError):
        apply_override({}, "training.max_epochs")
    with pytest.raises(ConfigError):
        apply_override({}, "=3")
    with pytest.raises(ConfigError) as info:
        apply_override({"seed": 3}, "seed.value=4")
    assert info.value.key == "seed.value"


# --------------------------------------------------------------------------- JSON round trip and paths

def test_to_json_from_dict_round_trip(tmp_path):
    text = """
seed = 7
[data]
train = [{ path = "t.conll", columns = { ner = 3, upos = 1 } }, "sample:train"]
dev = { dataset = "some/dataset", split = "validation", columns = { ner = "ner_tags" } }
max_train_sentences = 5
[tasks.upos]
[tasks.ner]
decoder = "crf"
scheme = "BIOES"
strict = true
weight = 0.5
[encoder]
kind = "gru"
[training]
betas = [0.8, 0.99]
schedule = "cosine"
"""
    config = load_config(write_config(tmp_path, text))
    again = from_dict(json.loads(config.to_json()))
    assert again == config
    assert isinstance(again, TaggerConfig)
    assert again.data.dev[0].columns == {"ner": "ner_tags"}
    assert again.data.train[0].columns == {"ner": 3, "upos": 1}


def test_relative_paths_resolve_against_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    (folder / "train.conll").write_text("a O\n", encoding="utf-8")
    (folder / "vectors.txt").write_text("a 0.1\n", encoding="utf-8")
    text = MINIMAL + '[data]\ntrain = "train.conll"\ndev = "missing.conll"\n[embeddings]\npretrained = "vectors.txt"\n'
    path = write_config(folder, text)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert Path(config.data.train[0].path) == folder / "train.conll"
    assert Path(config.data.train[0].path).is_file()
    assert config.data.dev[0].path == "missing.conll"  # left alone when it is nowhere
    assert Path(config.embeddings.pretrained) == folder / "vectors.txt"


# --------------------------------------------------------------------------- corpora catalogue

@pytest.fixture
def no_data(monkeypatch, tmp_path):
    """No corpus folder and an empty cache; downloading would be the only way out."""
    monkeypatch.delenv(catalogue.DATA_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(catalogue, "fetch", no_network)
    monkeypatch.setattr(catalogue.urllib.request, "urlopen", no_network)


def test_catalogue_lists_known_corpora():
    entries = catalogue.catalogue()
    assert {"ud-en-ewt", "uner-en-ewt", "conll2003", "sample"} <= set(entries)
    for name, entry in entries.items():
        assert entry.name == name
        assert entry.license and entry.homepage
        assert entry.files
    assert entries["ud-en-ewt"].format == "conllu"
    assert entries["uner-en-ewt"].columns == {"ner": 2} and entries["uner-en-ewt"].token_column == 1
    assert entries["sample"].bundled


def test_is_reference():
    assert catalogue.is_reference("sample:train")
    assert catalogue.is_reference("ud-en-ewt:dev")
    assert not catalogue.is_reference("sample")
    assert not catalogue.is_reference("unknown:train")
    assert not catalogue.is_reference("sample:dir/file.conll")


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_resolve_bundled_sample(split, no_data):
    path, entry = catalogue.resolve(f"sample:{split}")
    assert path.is_file()
    assert entry.name == "sample"
    assert path.read_text(encoding="utf-8").strip()


def test_resolve_from_data_env(tmp_path, monkeypatch, no_data):
    data = tmp_path / "data"
    (data / "ud-en-ewt").mkdir(parents=True)
    file = data / "ud-en-ewt" / "en_ewt-ud-dev.conllu"
    file.write_text("1\ta\t_\tX\t_\t_\t_\t_\t_\t_\n", encoding="utf-8")
    monkeypatch.setenv(catalogue.DATA_ENV, str(data))
    path, entry = catalogue.resolve("ud-en-ewt:dev", download=False)
    assert path == file
    assert entry.format == "conllu"


def test_resolve_falls_back_to_cache(tmp_path, monkeypatch, no_data):
    monkeypatch.setenv(catalogue.DATA_ENV, str(tmp_path / "data-without-it"))
    cached = tmp_path / "empty-cache" / "birnn-tagger" / "corpora" / "uner-en-ewt" / "en_ewt-ud-test.iob2"
    cached.parent.mkdir(parents=True)
    cached.write_text("1\ta\tO\n", encoding="utf-8")
    path, _ = catalogue.resolve("uner-en-ewt:test", download=False)
    assert path == cached


def test_resolve_missing_without_download(no_data):
    with pytest.raises(catalogue.CorpusError) as info:
        catalogue.resolve("ud-en-ewt:train", download=False)
    message = str(info.value)
    assert "BIRNN_TAGGER_DATA" in message
    assert "en_ewt-ud-train.conllu" in message
    assert "github.com/UniversalDependencies" in message  # the official source


def test_resolve_corpus_without_download_url_explains(no_data):
    with pytest.raises(catalogue.CorpusError) as info:
        catalogue.resolve("conll2003:train", download=True)
    assert "BIRNN_TAGGER_DATA" in str(info.value)
    assert "RCV1" in str(info.value)  # the catalogue's note on how to get it


def test_resolve_unknown_corpus_lists_catalogue(no_data):
    with pytest.raises(catalogue.CorpusError) as info:
        catalogue.resolve("ontonotes:train")
    message = str(info.value)
    assert "ontonotes" in message
    for name in ("ud-en-ewt", "uner-en-ewt", "conll2003", "sample"):
        assert name in message


def test_resolve_unknown_split_lists_splits(no_data):
    with pytest.raises(catalogue.CorpusError) as info:
        catalogue.resolve("sample:validation")
    message = str(info.value)
    assert "validation" in message
    assert "train" in message and "dev" in message and "test" in message


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    config = load_config(path, ["masked_lm.weight=1.0"] if path.name.startswith("pretrain") else [])  # as tagger pretrain does
    if "glove" in path.name:  # word_dim is left to the vectors
        assert config.embeddings.pretrained == "glove-6b-50d" and config.embeddings.word_dim == 0
    else:
        assert config.embeddings.word_dim > 0


def test_a_seed_torch_takes_is_a_seed_also_in_a_saved_model() -> None:
    for seed in (20240101123045, -5, 2**63 - 1):
        assert from_dict({**tiny_config_dict(), "seed": seed}).seed == seed
