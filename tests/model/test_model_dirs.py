"""Model directories are untrusted input: one edited or made by someone else (with digests to match) is a
ModelFormatError naming the file through every front end, never a traceback, a hang or unbounded memory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import tiny_config_dict
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.config import from_dict
from tagger.core.errors import ModelFormatError, TaggerError
from tagger.core.types import Sentence
from tagger.core.vocab import Vocab
from tagger.model import serialize
from tagger.model.serialize import FILES

runner = CliRunner()
Edit = Callable[[dict[str, Any]], None]


def hostile(source: Path, target: Path, **edits: Edit) -> Path:
    """A copy of the model in ``source`` with its JSON files edited (``config_json=...``: a function changing
    the parsed file), and meta.json's digests recomputed, as a hostile maker writes them."""
    target.mkdir()
    for name in FILES:
        shutil.copyfile(source / name, target / name)
    for name, edit in edits.items():
        path = target / name.replace("_", ".")
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    redigest(target)
    return target


def redigest(directory: Path) -> None:
    meta = json.loads((directory / "meta.json").read_text())
    if isinstance(meta.get("sha256"), dict):
        meta["sha256"] = {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() if (directory / name).is_file() else digest
                          for name, digest in meta["sha256"].items()}
        (directory / "meta.json").write_text(json.dumps(meta))


def refused(directory: Path, match: str) -> None:
    """Tagger.load and `tagger info` both refuse ``directory`` with a ModelFormatError (one line) matching ``match``."""
    from tagger import Tagger

    with pytest.raises(ModelFormatError, match=match):
        Tagger.load(directory)
    result = runner.invoke(app, ["info", str(directory)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.exception, result.output)
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, result.output


def set_key(path: str, value: Any) -> Edit:
    """An edit setting the dotted ``path`` (``encoder.hidden_size``; ``labels.upos.3``: a list item) to ``value``."""
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[int(part)] if isinstance(data, list) else data[part]
        data[int(last) if isinstance(data, list) else last] = value

    return edit


def delete_key(path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for part in parents:
            data = data[part]
        del data[last]

    return edit


@pytest.fixture
def never_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the network fails the test: a check on the weights' header must refuse first."""
    def build_model(*_: object) -> None:
        raise AssertionError("the network was built for a config its weights do not fit")

    monkeypatch.setattr("tagger.nn.model.build_model", build_model)


# The weights' header against the config: refused before the network is built.

@pytest.mark.parametrize("key, value", [("encoder.hidden_size", 4000), ("encoder.num_layers", 60), ("embeddings.char_hidden", 5000),
                                        ("embeddings.word_dim", 8000), ("encoder.kind", "gru")])
def test_config_sizes_the_weights_do_not_have_are_refused_before_building(trained_tiny_model: Path, tmp_path: Path,
                                                                          never_built: None, key: str, value: Any) -> None:
    model = hostile(trained_tiny_model, tmp_path / "model", config_json=set_key(key, value))
    refused(model, r"model\.safetensors: the weights do not fit config\.json and vocab\.json: ")


@pytest.mark.parametrize("key, value", [("encoder.hidden_size", 20000), ("encoder.num_layers", 3000), ("encoder.num_layers", 10**9)])
def test_huge_sizes_in_config_are_refused_at_once(trained_tiny_model: Path, tmp_path: Path, never_built: None, key: str, value: int) -> None:
    """The issue's cases: 20000 asked for 6.4 GB before failing, 3000 layers built 4.9 GB for 12 s (whether the
    config's own range or the weights refuse them, both name config.json)."""
    model = hostile(trained_tiny_model, tmp_path / "model", config_json=set_key(key, value))
    refused(model, r"config\.json")


def test_a_missing_size_in_config_is_refused_before_building(trained_tiny_model: Path, tmp_path: Path, never_built: None) -> None:
    """A key left out takes its default (hidden size 256): not the weights' size."""
    model = hostile(trained_tiny_model, tmp_path / "model", config_json=delete_key("encoder.hidden_size"))
    refused(model, r"do not fit config\.json .*encoder\.layers\.0\.forward_rnn\.weight_ih_l0 has shape \(96, 32\), they make it \(1024, 32\)")


@pytest.mark.parametrize("key, value", [("encoder.hidden_size", -24), ("embeddings.char_dim", 0), ("encoder.num_layers", "2")])
def test_a_negative_zero_or_mistyped_size_in_config_names_the_key(trained_tiny_model: Path, tmp_path: Path, key: str, value: Any) -> None:
    model = hostile(trained_tiny_model, tmp_path / "model", config_json=set_key(key, value))
    refused(model, rf"config\.json: {key}")


def test_a_zero_word_dim_is_refused_naming_config(trained_tiny_model: Path, tmp_path: Path) -> None:
    """0 means "the vectors' size" in a training config with vectors; in a model (with weights to match) it
    failed while building, naming no file."""
    def zero_width(config: dict[str, Any]) -> None:
        config["embeddings"].update(word_dim=0, pretrained="vectors.txt")

    def no_word_vectors(model: Path) -> None:
        from safetensors.torch import load_file, save_file

        weights = load_file(model / "model.safetensors")
        weights["embeddings.words.weight"] = weights["embeddings.words.weight"][:, :0].contiguous()
        weights["encoder.layers.0.forward_rnn.weight_ih_l0"] = weights["encoder.layers.0.forward_rnn.weight_ih_l0"][:, 16:].contiguous()
        weights["encoder.layers.0.backward_rnn.weight_ih_l0"] = weights["encoder.layers.0.backward_rnn.weight_ih_l0"][:, 16:].contiguous()
        save_file(weights, model / "model.safetensors")

    model = hostile(trained_tiny_model, tmp_path / "model", config_json=zero_width)
    no_word_vectors(model)
    redigest(model)
    refused(model, r"config\.json: embeddings\.word_dim: must be positive")


@pytest.mark.parametrize("damage", ["truncated", "extended", "int tensor", "header garbage"])
def test_weights_whose_header_does_not_describe_them_are_refused_by_info_too(trained_tiny_model: Path, tmp_path: Path, damage: str) -> None:
    model = hostile(trained_tiny_model, tmp_path / "model")
    path = model / "model.safetensors"
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    if damage == "truncated":
        data = data[:-1000]
    elif damage == "extended":
        data += b"\0" * 1000
    elif damage == "int tensor":
        data = data.replace(b'"F32"', b'"I32"', 1)
    else:
        data = data[:8] + b"[" * size + data[8 + size:]
    path.write_bytes(data)
    redigest(model)
    refused(model, r"model\.safetensors")


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # an adaptive cluster of width 0 (48 // 4 ** 3)
def test_the_layout_of_the_weights_is_the_one_build_model_makes() -> None:
    """weight_layout works out without torch what build_model makes: held together for every kind of part."""
    from tagger.nn.model import build_model

    sentences = [Sentence(["Anna", "saw", "Oslo", "today"], {"upos": ["PROPN", "VERB", "PROPN", "NOUN"], "ner": ["S-PER", "O", "S-LOC", "O"]},
                          features={"shape": ["Xx", "x", "Xx", "x"]})]
    variants = [
        {"encoder": {"kind": "gru", "num_layers": 3}, "embeddings": {"char_encoder": "lstm", "features": {"shape": 4}}},
        {"encoder": {"kind": "lstm", "num_layers": 2}, "embeddings": {"char_encoder": "sentence_lstm"}, "char_lm": {"weight": 0.5}},
        {"embeddings": {"char_encoder": "none"}, "masked_lm": {"weight": 1.0, "cutoffs": [5, 8, 9]}},
        {"embeddings": {"char_encoder": "cnn", "char_kernel": 5}, "masked_lm": {"weight": 1.0, "cutoffs": [100]}},
    ]
    for variant in variants:
        raw = tiny_config_dict()
        for section, values in variant.items():
            raw[section] = {**raw.get(section, {}), **values}
        config = from_dict(raw)
        vocab = Vocab.build(sentences, config.tasks, min_freq=1, features=config.embeddings.features,
                            extra_words=[f"w{i}" for i in range(12)])
        built = {name: tuple(tensor.shape) for name, tensor in build_model(config, vocab).state_dict().items()}
        assert dict(serialize.weight_layout(config, vocab)) == built, variant


# meta.json: the shape of every field anything reads.

@pytest.mark.parametrize("key, value, match", [
    ("sha256", ["a"], "sha256: expected an object"),
    ("sha256", {"notes.txt": "00"}, "sha256 names 'notes.txt'"),
    ("format_version", True, "format version True"),
    ("training.finished", "yes", "training.finished: expected true or false"),
    ("parameters", "many", "parameters: expected a whole number"),
    ("versions", ["torch"], "versions: expected an object"),
    ("scores.dev.upos.accuracy", "high", r"scores\.dev\.upos\.accuracy: expected a number"),
    ("corpora.train", "sample:train", r"corpora\.train: expected a list"),
    ("vectors", {"source": "glove"}, r"vectors\.dim is missing"),
    ("seeds", {"chosen": 1, "runs": [], "summary": {"dev": {"upos": {"mean": "x", "sd": 0}}}}, r"seeds\.summary\.dev\.upos\.mean"),
    ("segmentation", {"scores": {"dev": {"sentences": {}}}}, r"segmentation\.scores\.dev\.documents is missing"),
])
def test_meta_json_of_the_wrong_shape_is_refused(trained_tiny_model: Path, tmp_path: Path, key: str, value: Any, match: str) -> None:
    """meta.json is not covered by the digests: every field that is read is checked (``sha256: ["a"]`` was
    reported as matching)."""
    model = hostile(trained_tiny_model, tmp_path / "model", meta_json=set_key(key, value))
    refused(model, rf"meta\.json: .*{match}")


# vocab.json: lists of distinct strings, labels that a task can decode.

@pytest.mark.parametrize("key, value, match", [
    ("labels.upos.3", None, r"labels\.upos\[3\] is null: a label is a string that is not empty"),
    ("labels.upos.3", "", r"labels\.upos\[3\] is \"\": a label"),
    ("labels.upos.3", "ADJ", r"labels\.upos: 'ADJ' is there twice \(at 0 and 3\)"),
    ("labels.ner.0", "PERSON", r"labels\.ner: 'PERSON' is not a tag of the task's BIOES scheme"),
    ("words.1", "<nothing>", r"words: expected '<pad>' first and '<unk>' among the entries"),
    ("chars.5", 5, r"chars\[5\] is 5"),
    ("lowercase", "yes", "lowercase: expected true or false"),
    ("labels", ["upos"], "labels: expected an object"),
])
def test_vocab_json_of_the_wrong_shape_is_refused(trained_tiny_model: Path, tmp_path: Path, key: str, value: Any, match: str) -> None:
    model = hostile(trained_tiny_model, tmp_path / "model", vocab_json=set_key(key, value))
    refused(model, rf"vocab\.json: {match}")


def test_a_null_label_is_refused_by_the_spacy_component(trained_tiny_model: Path, tmp_path: Path) -> None:
    """It was predicted as None: token.pos_ None."""
    import spacy

    model = hostile(trained_tiny_model, tmp_path / "model", vocab_json=set_key("labels.upos.3", None))
    with pytest.raises(ModelFormatError, match=r"vocab\.json: labels\.upos\[3\] is null"):
        spacy.blank("en").add_pipe("birnn_tagger", config={"model": str(model)})
    shutil.copytree(model, tmp_path / "pipeline" / "birnn_tagger")
    component = spacy.blank("en").add_pipe("birnn_tagger")
    with pytest.raises(ModelFormatError, match=r"vocab\.json: labels\.upos\[3\] is null"):
        component.from_disk(tmp_path / "pipeline" / "birnn_tagger")


def test_from_bytes_with_file_names_that_are_not_strings_raises_tagger_error(trained_tiny_model: Path) -> None:
    import spacy
    import srsly

    files: dict[Any, bytes] = {name: (trained_tiny_model / name).read_bytes() for name in FILES}
    files[7] = b"x"
    with pytest.raises(TaggerError, match="not a serialized model"):
        spacy.blank("en").add_pipe("birnn_tagger").from_bytes(srsly.msgpack_dumps(files))


# The files themselves: regular files of bounded size, JSON that parses.

@pytest.mark.parametrize("text, match", [("[" * 100_000, "RecursionError"), ('{"seed": ' + "9" * 5000 + "}", "ValueError"),
                                         ("\udcff", "UnicodeDecodeError")])
def test_json_that_python_cannot_parse_is_refused(trained_tiny_model: Path, tmp_path: Path, text: str, match: str) -> None:
    model = hostile(trained_tiny_model, tmp_path / "model")
    (model / "config.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    redigest(model)
    refused(model, rf"config\.json: not valid JSON \({match}")


def test_a_directory_as_a_model_file_is_refused(trained_tiny_model: Path, tmp_path: Path) -> None:
    model = hostile(trained_tiny_model, tmp_path / "model")
    (model / "config.json").unlink()
    (model / "config.json").mkdir()
    refused(model, r"config\.json: a directory, not a file")


def test_a_json_file_over_its_limit_is_refused_unread(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(serialize.JSON_LIMITS, "vocab.json", 1000)
    refused(hostile(trained_tiny_model, tmp_path / "model"), r"vocab\.json: [\d,]+ bytes, more than a model's vocab\.json can be \(1,000 bytes\)")


LOAD = """
import sys
from tagger.core.errors import ModelFormatError
from tagger.model.serialize import describe, load_model
for read in (describe, load_model):
    try:
        read(sys.argv[1])
    except ModelFormatError as error:
        print(error)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("name, make", [("meta.json", os.mkfifo), ("config.json", os.mkfifo),
                                        ("model.safetensors", lambda path: os.symlink("/dev/zero", path))])
def test_a_pipe_or_a_device_as_a_model_file_is_refused_without_reading_it(trained_tiny_model: Path, tmp_path: Path, name: str,
                                                                          make: Callable[[Path], None]) -> None:
    """A FIFO hung forever; /dev/zero was read until MemoryError. In a process of its own with a time and memory
    limit, so that a failure is a failed test, not a stuck or starved run."""
    model = hostile(trained_tiny_model, tmp_path / "model")
    (model / name).unlink()
    make(model / name)
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
    done = subprocess.run([sys.executable, "-c", limit + LOAD, str(model)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(f"{name}: a device, pipe or socket, not a file") == 2, done.stdout


def test_a_lexicon_word_longer_than_any_match_costs_no_memory_for_its_prefixes() -> None:
    """A segmenter's vocab.json may hold a word of a million characters: its prefixes cost its length squared."""
    from tagger.model.segmenter import Lexicon, units

    lexicon = Lexicon(["x" * 20_000, "ab", "abc d"])
    assert len(lexicon._prefixes) == len({"a", "ab", "abc", "abc ", "abc d"})
    assert lexicon.matches("abc d ab", units("abc d ab")) == (["2,4", "-", "-", "-", "2", "-"], ["-", "2", "-", "4", "-", "2"])
