"""Pretrained word vectors: every format on small files written here, lookup order, the vocabulary
they extend, coverage, freezing, bad files with their file:line, and models trained with them
through Tagger, the spaCy component, annotate, the service and int8."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config_dict

from tagger.annotate import AnnotateOptions
from tagger.core.config import from_dict
from tagger.core.errors import ConfigError, DataFormatError
from tagger.core.types import Sentence
from tagger.core.vocab import UNK
from tagger.data import catalogue
from tagger.data.vectors import read_vectors
from tagger.training.transfer import build_vocabulary

WORDS = ["the", ",", "paris", "maria", "2010", "zebra"]
RNG = np.random.default_rng(0)
MATRIX = RNG.standard_normal((len(WORDS), 4)).astype(np.float32).round(4)


def text_lines(words: list[str] = WORDS, matrix: np.ndarray = MATRIX, trailing: str = "") -> list[str]:
    return [f"{w} " + " ".join(f"{v:.4f}" for v in row) + trailing for w, row in zip(words, matrix)]


def write(path: Path, lines: list[str], header: bool = False) -> Path:
    body = "\n".join(([f"{len(lines)} {MATRIX.shape[1]}"] if header else []) + lines) + "\n"
    path.write_text(body, encoding="utf-8")
    return path


def word2vec_binary(words: list[str] = WORDS, matrix: np.ndarray = MATRIX, newline: bool = True) -> bytes:
    data = f"{len(words)} {matrix.shape[1]}\n".encode()
    for word, row in zip(words, matrix):
        data += word.encode() + b" " + row.astype("<f4").tobytes() + (b"\n" if newline else b"")
    return data


def assert_same(vectors, words: list[str] = WORDS, matrix: np.ndarray = MATRIX) -> None:
    assert vectors.words == words
    np.testing.assert_allclose(vectors.matrix, matrix, atol=1e-6)
    assert vectors.dim == matrix.shape[1] and vectors.total == len(words)


# --- formats -----------------------------------------------------------------------------------------

def test_glove_text(tmp_path: Path) -> None:
    assert_same(read_vectors(str(write(tmp_path / "glove.txt", text_lines()))))


def test_word2vec_and_fasttext_text_with_header_and_trailing_space(tmp_path: Path) -> None:
    assert_same(read_vectors(str(write(tmp_path / "w2v.txt", text_lines(), header=True))))
    assert_same(read_vectors(str(write(tmp_path / "ft.vec", text_lines(trailing=" "), header=True))))  # fastText's lines end in a space


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
def test_compressed_text_is_told_by_its_bytes_not_its_name(tmp_path: Path, opener) -> None:
    path = tmp_path / "vectors.data"  # no telling extension
    with opener(path, "wb") as handle:
        handle.write(("\n".join(text_lines()) + "\n").encode())
    assert_same(read_vectors(str(path)))


@pytest.mark.parametrize("newline", [True, False])
def test_word2vec_binary(tmp_path: Path, newline: bool) -> None:
    path = tmp_path / "vectors.bin"
    path.write_bytes(word2vec_binary(newline=newline))  # Google's tool ends each vector with \n; others do not
    assert_same(read_vectors(str(path)))
    with gzip.open(tmp_path / "vectors.bin.gz", "wb") as handle:
        handle.write(word2vec_binary())
    assert_same(read_vectors(str(tmp_path / "vectors.bin.gz")))


def test_spacy_pipeline_and_vocab_directory(tmp_path: Path) -> None:
    import spacy

    nlp = spacy.blank("en")
    for word, row in zip(WORDS, MATRIX):
        nlp.vocab.set_vector(word, row)
    nlp.to_disk(tmp_path / "pipeline")
    for source in (f"spacy:{tmp_path / 'pipeline'}", str(tmp_path / "pipeline"), str(tmp_path / "pipeline" / "vocab")):
        assert_same(read_vectors(source))


def test_a_spacy_pipeline_without_vectors_is_a_clear_error(tmp_path: Path) -> None:
    import spacy

    spacy.blank("en").to_disk(tmp_path / "empty")
    with pytest.raises(DataFormatError, match="no word vectors"):
        read_vectors(f"spacy:{tmp_path / 'empty'}")


def test_tabs_bom_crlf_and_trailing_blank_lines(tmp_path: Path) -> None:
    lines = [line.replace(" ", "\t", 1) for line in text_lines()]  # word<TAB>values
    assert_same(read_vectors(str(write(tmp_path / "tabs.txt", lines))))
    path = tmp_path / "bom.vec"
    path.write_bytes(("\ufeff" + f"{len(WORDS)} 4\r\n" + "\r\n".join(text_lines()) + "\r\n\r\n\n").encode())
    assert_same(read_vectors(str(path)))


def test_text_with_a_header_and_odd_bytes_is_not_taken_for_binary(tmp_path: Path) -> None:
    path = tmp_path / "latin1.vec"
    path.write_bytes(b"2 4\ncaf\xe9 1 2 3 4\nthe 1 2 3 4\n")
    with pytest.raises(DataFormatError, match=r"latin1.vec:2: the word is not valid UTF-8"):
        read_vectors(str(path))


def test_binary_words_that_are_not_utf8_are_read_with_a_replacement(tmp_path: Path) -> None:
    data = word2vec_binary().replace(b"zebra", b"zebr\xc3")  # a character cut in two, as the C tool cuts long words
    (tmp_path / "v.bin").write_bytes(data)
    assert read_vectors(str(tmp_path / "v.bin")).words[-1] == "zebr\ufffd"


def test_words_with_spaces_as_in_glove_840b(tmp_path: Path) -> None:
    lines = text_lines()
    lines[3] = ". . . " + lines[3].partition(" ")[2]
    vectors = read_vectors(str(write(tmp_path / "glove.txt", lines)))
    assert vectors.words[3] == ". . ." and vectors.find(". . .") == 3


# --- lookup and selection ------------------------------------------------------------------------------

def test_lookup_exact_first_then_lower_cased_and_digit_folded(tmp_path: Path) -> None:
    vectors = read_vectors(str(write(tmp_path / "v.txt", text_lines(["Apple", "apple", "2010", "the", "the", "x"]))))
    assert vectors.find("Apple") == 0 and vectors.find("apple") == 1
    assert vectors.find("APPLE") == 1  # no exact key: the lower-cased one
    assert vectors.find("1999") == 2  # digits fold to 0, as 2010's do
    assert vectors.find("The") == 3  # the first of duplicates, the most frequent
    assert vectors.find("pear") is None


def test_only_wanted_and_top_vectors_are_kept(tmp_path: Path) -> None:
    vectors = read_vectors(str(write(tmp_path / "v.txt", text_lines())), wanted={"Zebra"}, top=2)
    assert vectors.words == ["the", ",", "zebra"] and vectors.total == len(WORDS)  # "Zebra" finds "zebra" folded
    np.testing.assert_allclose(vectors.matrix[2], MATRIX[5], atol=1e-6)


# --- bad files -------------------------------------------------------------------------------------------

def bad_text(tmp_path: Path, number: int, replacement: str) -> Path:
    lines = text_lines()
    lines[number - 1] = replacement
    return write(tmp_path / "bad.txt", lines)


@pytest.mark.parametrize(("line", "replacement", "message"), [
    (3, "paris 1 2 3", "3 values, but the vectors have 4"),
    (4, "maria 1 2 3 4 5", "5 values, but the vectors have 4"),
    (5, "2010 1 2 x 4", "value 3 ('x') is not a number"),
    (5, "2010 1 2 1_0 4", "value 3 ('1_0') is not a number"),
    (6, "zebra 1 nan 3 4", "value 2 (nan) is not a finite number"),
    (6, "zebra 1 2 1e400 4", "value 3 (inf) is not a finite number"),
    (2, "", "an empty line"),
    (2, "the 1 2 3", "3 values, but the vectors have 4 (as on line 1)"),
])
def test_malformed_text_lines_name_file_and_line(tmp_path: Path, line: int, replacement: str, message: str) -> None:
    path = bad_text(tmp_path, line, replacement)
    with pytest.raises(DataFormatError, match=rf"bad.txt:{line}: .*{re.escape(message)}"):
        read_vectors(str(path))


def test_a_non_number_in_a_vector_no_model_uses_is_not_parsed(tmp_path: Path) -> None:
    path = bad_text(tmp_path, 6, "zebra 1 2 x 4")  # beyond top, not wanted: its values are skipped, not read
    assert read_vectors(str(path), wanted=(), top=2).words == ["the", ","]
    with pytest.raises(DataFormatError, match="bad.txt:6"):
        read_vectors(str(path), wanted={"zebra"}, top=2)


def test_invalid_utf8_word(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"the 1 2\n\xff\xfe 3 4\n")
    with pytest.raises(DataFormatError, match=r"bad.txt:2: the word is not valid UTF-8"):
        read_vectors(str(path))


@pytest.mark.parametrize(("content", "message"), [
    (b"", "the file is empty"),
    (b"3 4\n", "the file is empty after its header"),
    (b"5 4\n" + "\n".join(text_lines()[:3]).encode() + b"\n", r"v.txt:1: the header announces 5 vectors, the file has 3"),
    (b"the\n", r"v.txt:1: expected a word followed by its vector"),
    (b"2 3\nthe 1 2\n, 1 2\n", r"v.txt:2: 2 values, but the vectors have 3 \(as the header says\)"),
    (b"PK\x03\x04rest", "a zip archive: take the vectors file out of it first"),
])
def test_empty_and_inconsistent_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=message):
        read_vectors(str(path))


def test_binary_cut_short_names_the_byte(tmp_path: Path) -> None:
    data = word2vec_binary()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[:-10])
    with pytest.raises(DataFormatError, match=r"cut.bin: byte \d+: the file ends inside vector 6 of the 6"):
        read_vectors(str(path))
    path.write_bytes(data + b"extra 1 2 3")
    with pytest.raises(DataFormatError, match="data after the 6 vectors"):
        read_vectors(str(path))


def test_a_damaged_archive_and_a_missing_source(tmp_path: Path) -> None:
    path = tmp_path / "v.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(text_lines()) + "\n").encode())[:-30])
    with pytest.raises(DataFormatError, match="v.txt.gz: cannot be read"):
        read_vectors(str(path))
    with pytest.raises(DataFormatError, match="no such vectors file.*glove-6b-100d"):
        read_vectors(str(tmp_path / "nowhere.txt"))


# --- the catalogue -----------------------------------------------------------------------------------

def test_catalogue_entries_say_license_source_and_file() -> None:
    entries = catalogue.vectors_catalogue()
    assert {"glove-6b-50d", "glove-6b-300d", "glove-840b-300d", "fasttext-crawl-300d-2m"} <= set(entries)
    for entry in entries.values():
        assert entry.license and entry.download.startswith("https://") and entry.file and entry.homepage


def test_catalogue_name_resolves_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vectors").mkdir()
    write(tmp_path / "vectors" / "glove.6B.50d.txt", text_lines())
    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path))
    assert_same(read_vectors("glove-6b-50d"))


def test_catalogue_download_takes_the_member_out_of_its_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download path end to end, from a local file:// address (no network)."""
    archive = tmp_path / "glove.6B.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("glove.6B.50d.txt", "\n".join(text_lines()) + "\n")
        handle.writestr("glove.6B.100d.txt", "\n".join(text_lines()) + "\n")
    entries = catalogue.vectors_catalogue()
    local = {name: catalogue.VectorsEntry(**{**entry.__dict__, "download": archive.as_uri()})
             for name, entry in entries.items() if name.startswith("glove-6b")}
    monkeypatch.setattr(catalogue, "vectors_catalogue", lambda: local)
    monkeypatch.delenv("BIRNN_TAGGER_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(catalogue.CorpusError, match="not found"):
        catalogue.resolve_vectors("glove-6b-50d", download=False)
    path = catalogue.resolve_vectors("glove-6b-50d")
    assert path == tmp_path / "cache" / "birnn-tagger" / "vectors" / "glove.6B.50d.txt"
    assert_same(read_vectors(str(path)))
    assert (path.parent / "glove.6B.zip").is_file()  # kept: the 100d file is still inside
    assert_same(read_vectors(str(catalogue.resolve_vectors("glove-6b-100d"))))
    assert (path.parent / "glove.6B.zip").is_file()  # still: 200d and 300d are not out yet
    with pytest.raises(catalogue.CorpusError, match="cannot take 'glove.6B.200d.txt' out of it"):
        catalogue.resolve_vectors("glove-6b-200d")  # this archive lacks it
    assert not (path.parent / "glove.6B.200d.txt").exists()


# --- the vocabulary and the word table ---------------------------------------------------------------

SENTENCES = [Sentence(["Maria", "saw", "Paris", "in", "2012", "."], {"upos": ["PROPN", "VERB", "PROPN", "ADP", "NUM", "PUNCT"]}),
             Sentence(["Maria", "saw", "the", "zoo", "."], {"upos": ["PROPN", "VERB", "DET", "NOUN", "PUNCT"]})]


def vectors_config(path: Path, **embeddings) -> dict:
    raw = tiny_config_dict()
    raw["tasks"] = {"upos": {"decoder": "softmax"}}
    raw["embeddings"] = {**raw["embeddings"], "word_dim": 0, "pretrained": str(path), "min_freq": 2, **embeddings}
    return raw


def test_vocabulary_training_words_plus_the_first_max_vectors(tmp_path: Path) -> None:
    path = write(tmp_path / "v.txt", text_lines())
    config = from_dict(vectors_config(path, max_vectors=3, lowercase=False))
    vocab, rows = build_vocabulary(config, SENTENCES)
    words = vocab.words.items
    # frequent training words, rare ones that have a vector ("Paris" finds "paris", "2012" 2010's), then the first 3 vectors' words
    assert words[3:] == ["Maria", "saw", ".", "Paris", "2012", "the", ",", "paris"]
    assert "zebra" not in words and "zoo" not in words  # beyond max_vectors; rare without a vector
    assert rows.dim == 4
    found = dict(zip((words[i] for i in rows.ids), rows.matrix))
    np.testing.assert_allclose(found["Maria"], MATRIX[3], atol=1e-6)  # cased key, lower-cased vector
    assert "saw" not in found and "." not in found
    assert vocab.word_id("PARIS") == vocab.words.ids["paris"]  # unknown cased form: folded key
    assert vocab.word_id("unseen") == vocab.words.ids[UNK]


def test_max_vectors_zero_keeps_training_words_only(tmp_path: Path) -> None:
    path = write(tmp_path / "v.txt", text_lines())
    vocab, rows = build_vocabulary(from_dict(vectors_config(path, max_vectors=0)), SENTENCES)
    assert "zebra" not in vocab.words and "the" in vocab.words and "2010" not in vocab.words
    assert vocab.word_id("2012") == vocab.words.ids["0000"]  # rare, but 2010's vector (digits folded) brings it in


def test_word_dim_comes_from_the_vectors_and_a_different_one_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "v.txt", text_lines())
    assert from_dict(vectors_config(path)).embeddings.word_dim == 0  # filled in by training
    with pytest.raises(ConfigError, match=r"embeddings.word_dim: is 16, but the vectors .* have 4 values"):
        build_vocabulary(from_dict(vectors_config(path, word_dim=16)), SENTENCES)
    assert from_dict({**tiny_config_dict(), "embeddings": {}}).embeddings.word_dim == 100  # no vectors: the default


@pytest.fixture(scope="module")
def vectors_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny tagger trained on the sample corpus with (random) vectors for its words and more."""
    from tagger.data import load_sentences
    from tagger.training import train

    root = tmp_path_factory.mktemp("vectors-model")
    config = from_dict(vectors_config(root / "v.txt", lowercase=False, max_vectors=50))
    words = sorted({t.lower() for s in load_sentences(config.data.train, config.tasks) for t in s.tokens})[::2]
    words = [f"extra{i}" for i in range(50)] + words
    vectors = np.random.default_rng(1).standard_normal((len(words), 12)).astype(np.float32).round(4)
    write(root / "v.txt", text_lines(words, vectors))
    train(config, root / "model")
    return root / "model", root / "v.txt"


def test_a_model_with_vectors_records_them(vectors_model: tuple[Path, Path]) -> None:
    model, path = vectors_model
    config = json.loads((model / "config.json").read_text())
    meta = json.loads((model / "meta.json").read_text())
    assert config["embeddings"]["word_dim"] == 12
    report = meta["vectors"]
    assert report["source"] == str(path) and report["dim"] == 12
    assert report["vectors"] == len(path.read_text().splitlines())
    assert 0.2 < report["training_types"] < 0.9 and 0 < report["training_tokens"] <= 1  # about half the lower-cased forms
    vocab = json.loads((model / "vocab.json").read_text())
    assert vocab["fold_unknown"] and {f"extra{i}" for i in range(50)} <= set(vocab["words"])
    from typer.testing import CliRunner

    from tagger.cli import app

    info = CliRunner().invoke(app, ["info", str(model)])
    assert info.exit_code == 0 and "12-d" in info.output and "start from one" in info.output


def test_a_model_with_vectors_labels_the_same_everywhere(vectors_model: tuple[Path, Path], tmp_path: Path) -> None:
    import spacy

    from tagger import Tagger
    from tagger.annotate import annotate_file
    from tagger.spacy.export import export_pipeline

    model, _ = vectors_model
    texts = ["Maria Lopez moved to Chicago .", "extra3 extra7 went to PARIS ."]
    tagger = Tagger.load(model)
    expected = [p.tags["upos"] for p in tagger.predict([t.split() for t in texts])]
    reloaded = Tagger.load(model)
    assert [p.tags["upos"] for p in reloaded.predict([t.split() for t in texts])] == expected

    nlp = spacy.blank("en")
    nlp.add_pipe("birnn_tagger", config={"model": str(model)})
    assert [[t.pos_ for t in nlp(text)] for text in texts] == expected
    nlp.to_disk(tmp_path / "pipeline")
    assert [[t.pos_ for t in spacy.load(tmp_path / "pipeline")(text)] for text in texts] == expected
    exported = export_pipeline(model, tmp_path / "exported", None, None, "0.0.0", False)
    assert [[t.pos_ for t in spacy.load(exported)(text)] for text in texts] == expected

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"tokens": t.split()}) + "\n" for t in texts))
    annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="jsonl", output_format="jsonl"))
    written = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [w["tags"]["upos"] for w in written] == expected


def test_a_model_with_vectors_serves_and_runs_in_int8(vectors_model: tuple[Path, Path]) -> None:
    from fastapi.testclient import TestClient

    from tagger import Tagger
    from tagger.service import create_app

    model, _ = vectors_model
    tokens = ["extra3", "saw", "Maria", "."]
    expected = Tagger.load(model).predict([tokens])[0].tags["upos"]
    with TestClient(create_app(model, token="")) as client:
        response = client.post("/annotate", json={"texts": [tokens]})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["tags"]["upos"] == expected
    pytest.importorskip("onnxruntime")
    int8 = Tagger.load(model, precision="int8")  # a one-layer encoder: int8 leaves its only layer in fp32
    assert int8.predict([tokens])[0].tags["upos"] == expected


def test_freeze_vectors_keeps_their_rows_and_trains_the_others(vectors_model: tuple[Path, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from tagger.data.vectors import read_vectors as read
    from tagger.training import train

    _, path = vectors_model
    raw = vectors_config(path, lowercase=False, max_vectors=50, freeze_vectors=True)
    raw["training"] = {**raw["training"], "max_epochs": 2, "weight_decay": 0.01}
    train(from_dict(raw), tmp_path / "frozen")
    table = load_file(str(tmp_path / "frozen" / "model.safetensors"))["embeddings.words.weight"]
    vocab = json.loads((tmp_path / "frozen" / "vocab.json").read_text())["words"]
    vectors = read(str(path))
    with_vector = [i for i, w in enumerate(vocab) if i >= 3 and vectors.find(w) is not None]
    without = [i for i, w in enumerate(vocab) if i >= 3 and vectors.find(w) is None]
    expected = torch.from_numpy(vectors.matrix[[vectors.find(vocab[i]) for i in with_vector]])
    assert torch.equal(table[with_vector], expected)  # not a bit moved, weight decay included
    assert without and table[without].std() > 0  # rows without a vector are there, and train


def test_resume_with_vectors_continues_with_the_same_table(vectors_model: tuple[Path, Path], tmp_path: Path) -> None:
    from test_training import InterruptAfter

    from tagger import Tagger
    from tagger.training import train

    _, path = vectors_model
    raw = vectors_config(path, lowercase=False, max_vectors=50)
    raw["training"] = {**raw["training"], "max_epochs": 3}
    raw["data"]["max_train_sentences"] = 40
    straight = train(from_dict(raw), tmp_path / "straight")
    with pytest.raises(KeyboardInterrupt):
        train(from_dict(raw), tmp_path / "resumed", monitor=InterruptAfter(1))
    resumed = train(from_dict(raw), tmp_path / "resumed", resume=True)  # word_dim from the vectors again, rows not refilled
    for a, b in zip(straight.epochs, resumed.epochs, strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5, (a, b)
    sentences = [["Maria", "visited", "Paris", "."], ["extra1", "saw", "extra2", "."]]
    assert [p.tags for p in Tagger.load(tmp_path / "straight").predict(sentences)] == [
        p.tags for p in Tagger.load(tmp_path / "resumed").predict(sentences)]


def test_rows_no_training_text_reaches_stay_as_read_and_training_matches_a_dense_table(
        vectors_model: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the rows the training text looks up train: the others (the "extra" vectors' words) keep
    their vectors, and the model is the one a table whose every row trains gives (no weight decay)."""
    from safetensors.torch import load_file

    from tagger.training import loop, train

    _, path = vectors_model
    raw = vectors_config(path, lowercase=False, max_vectors=50)
    raw["training"] = {**raw["training"], "max_epochs": 2}
    raw["data"]["max_train_sentences"] = 40
    split = train(from_dict(raw), tmp_path / "split")
    monkeypatch.setattr(loop, "trainable_rows", lambda config, vocab, *_: torch.ones(len(vocab.words), dtype=torch.bool))
    dense = train(from_dict(raw), tmp_path / "dense")
    for a, b in zip(split.epochs, dense.epochs, strict=True):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4, (a, b)
    ours, theirs = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("split", "dense"))
    assert ours.keys() == theirs.keys()  # the table is saved whole, under its one name
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], atol=2e-4, rtol=1e-3)
    vocab = json.loads((tmp_path / "split" / "vocab.json").read_text())["words"]
    vectors = read_vectors(str(path))
    extra = [i for i, word in enumerate(vocab) if word.startswith("extra")]
    assert extra
    expected = torch.from_numpy(vectors.matrix[[vectors.find(vocab[i]) for i in extra]])
    assert torch.equal(ours["embeddings.words.weight"][extra], expected)
