"""The ``.spacy`` (DocBin) reader: tasks from Doc annotations, sentences, errors; training and evaluating on DocBin files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import spacy
from conftest import SAMPLE, tiny_config_dict
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.config import from_dict
from tagger.core.errors import DataFormatError
from tagger.core.schemes import tags_to_spans
from tagger.core.types import Sentence
from tagger.data.readers import read_corpus
from tagger.model.serialize import read_json

runner = CliRunner()
VOCAB = spacy.blank("en").vocab


def sample(split: str) -> list[Sentence]:
    return list(read_corpus(SAMPLE / f"{split}.conll", columns={"upos": 1, "ner": 2}))


def doc_of(sentence: Sentence, **annotations: object) -> Doc:
    return Doc(VOCAB, words=sentence.tokens, pos=sentence.tags["upos"], ents=sentence.tags["ner"], **annotations)  # type: ignore[arg-type]


def write_docbin(path: Path, docs: list[Doc]) -> Path:
    docbin = DocBin()
    for doc in docs:
        docbin.add(doc)
    docbin.to_disk(path)
    return path


def test_docbin_gives_back_the_tokens_and_tags_it_was_built_from(tmp_path: Path) -> None:
    source = sample("dev")
    path = write_docbin(tmp_path / "dev.spacy", [doc_of(s) for s in source])
    read = list(read_corpus(path))
    assert len(read) == len(source)
    assert any(set(s.tags["ner"]) != {"O"} for s in source)
    for number, (got, expected) in enumerate(zip(read, source), start=1):
        assert got.tokens == expected.tokens
        assert got.tags == {"upos": expected.tags["upos"], "ner": expected.tags["ner"]}  # ents come back as BIO
        assert got.meta["source"] == str(path) and got.meta["doc"] == number


def test_docs_with_sentence_starts_are_split_into_their_sentences(tmp_path: Path) -> None:
    source = sample("dev")[:9]
    docs = []
    for first in range(0, 9, 3):
        group = source[first: first + 3]
        starts = [i == 0 for s in group for i in range(len(s))]
        docs.append(Doc(VOCAB, words=[t for s in group for t in s.tokens], pos=[t for s in group for t in s.tags["upos"]],
                        ents=[t for s in group for t in s.tags["ner"]], sent_starts=starts))
    path = write_docbin(tmp_path / "grouped.spacy", docs)
    read = list(read_corpus(path))
    assert [s.tokens for s in read] == [s.tokens for s in source]
    assert [s.tags for s in read] == [s.tags for s in source]
    assert [s.meta["doc"] for s in read] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert read[0].meta["text"] == " ".join(source[0].tokens)

    # Without sentence boundaries a Doc is one sequence.
    unsplit = Doc(VOCAB, words=[t for s in source[:3] for t in s.tokens], pos=[t for s in source[:3] for t in s.tags["upos"]])
    (whole,) = read_corpus(write_docbin(tmp_path / "whole.spacy", [unsplit]))
    assert whole.tokens == [t for s in source[:3] for t in s.tokens] and set(whole.tags) == {"upos"}


def test_whitespace_tokens_are_dropped(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = nlp("We hired  Blue Sky Movers.\n\nHi Jenny,\n")
    assert [t.text for t in doc if t.is_space] == [" ", "\n\n", "\n"]
    doc.ents = [doc.char_span(10, 25, label="ORG")]
    path = write_docbin(tmp_path / "spaces.spacy", [doc])
    (sentence,) = read_corpus(path)
    assert sentence.tokens == ["We", "hired", "Blue", "Sky", "Movers", ".", "Hi", "Jenny", ","]
    assert sentence.tags["ner"] == ["O", "O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O"]


def test_a_sentence_of_whitespace_only_is_skipped(tmp_path: Path) -> None:
    doc = Doc(VOCAB, words=["Hello", "world", "\n\n", "Bye"], sent_starts=[True, False, True, True])
    read = list(read_corpus(write_docbin(tmp_path / "blank.spacy", [doc])))
    assert [s.tokens for s in read] == [["Hello", "world"], ["Bye"]]  # "\n\n" alone is no sentence


def test_explicit_columns_choose_the_doc_attribute_of_each_task(tmp_path: Path) -> None:
    source = sample("dev")[:5]
    penn = [[f"X{tag}" for tag in s.tags["upos"]] for s in source]
    docs = [Doc(VOCAB, words=s.tokens, pos=s.tags["upos"], tags=tags, lemmas=[t.lower() for t in s.tokens], ents=s.tags["ner"])
            for s, tags in zip(source, penn)]
    path = write_docbin(tmp_path / "many.spacy", docs)

    read = list(read_corpus(path, columns={"upos": "tag"}))
    assert [s.tags for s in read] == [{"upos": tags} for tags in penn]  # only the tasks named
    read = list(read_corpus(path, columns={"lemma": "lemma", "ner": "ents"}))
    assert [s.tags["lemma"] for s in read] == [[t.lower() for t in s.tokens] for s in source]
    assert [s.tags["ner"] for s in read] == [s.tags["ner"] for s in source]
    # By default: upos from pos, xpos from tag, ner from ents, wherever the Docs have them.
    assert [s.tags for s in read_corpus(path)] == [{**s.tags, "xpos": tags} for s, tags in zip(source, penn)]


def test_docs_without_an_annotation_leave_that_task_out(tmp_path: Path) -> None:
    source = sample("dev")[:4]
    docs = [doc_of(source[0]), Doc(VOCAB, words=source[1].tokens, pos=source[1].tags["upos"]), Doc(VOCAB, words=source[2].tokens)]
    read = list(read_corpus(write_docbin(tmp_path / "partial.spacy", docs), columns={"upos": "pos", "ner": "ents"}))
    assert [set(s.tags) for s in read] == [{"upos", "ner"}, {"upos"}, set()]


@pytest.mark.parametrize("columns", [{"upos": "pos_"}, {"ner": "entities"}])
def test_an_unknown_attribute_is_a_data_format_error_naming_the_file(tmp_path: Path, columns: dict[str, str]) -> None:
    path = write_docbin(tmp_path / "dev.spacy", [doc_of(s) for s in sample("dev")[:2]])
    with pytest.raises(DataFormatError) as raised:
        list(read_corpus(path, columns=columns))
    assert raised.value.path == str(path) and str(path) in str(raised.value)
    (task, attribute), = columns.items()
    assert repr(attribute) in str(raised.value) and task in str(raised.value)


def test_missing_garbage_and_empty_files_are_data_format_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.spacy"
    with pytest.raises(DataFormatError, match="no such file") as raised:
        list(read_corpus(missing))
    assert raised.value.path == str(missing)

    garbage = tmp_path / "x.spacy"
    garbage.write_bytes(random.Random(3).randbytes(512))
    with pytest.raises(DataFormatError, match="DocBin") as raised:
        list(read_corpus(garbage))
    assert raised.value.path == str(garbage)

    empty = write_docbin(tmp_path / "empty.spacy", [])
    with pytest.raises(DataFormatError, match="no sentence") as raised:
        list(read_corpus(empty))
    assert raised.value.path == str(empty)


def test_explicit_columns_no_doc_has_are_a_data_format_error(tmp_path: Path) -> None:
    path = write_docbin(tmp_path / "dev.spacy", [doc_of(s) for s in sample("dev")[:3]])
    with pytest.raises(DataFormatError) as raised:
        list(read_corpus(path, columns={"upos": "pos", "xpos": "tag"}))
    assert raised.value.path == str(path)
    assert "xpos (tag)" in str(raised.value) and "upos" not in str(raised.value).split("annotation")[-1]


def test_train_on_docbin_files_and_evaluate_on_one(tmp_path: Path) -> None:
    from tagger.training import train

    paths = {split: write_docbin(tmp_path / f"{split}.spacy", [doc_of(s) for s in sample(split)]) for split in ("train", "dev", "test")}
    config = tiny_config_dict(train={"path": str(paths["train"])}, dev={"path": str(paths["dev"])}, limit=60)
    config["training"]["max_epochs"] = 3
    model = tmp_path / "model"
    result = train(from_dict(config), model)
    assert result.best_epoch >= 1 and set(result.dev_scores) == {"upos", "ner"}

    meta, vocab = read_json(model / "meta.json"), read_json(model / "vocab.json")
    assert meta["corpora"]["train"] == [str(paths["train"])] and meta["corpora"]["dev"] == [str(paths["dev"])]
    train_upos = {tag for s in sample("train") for tag in s.tags["upos"]}
    assert set(vocab["labels"]["upos"]) - {"<unk>", "<pad>"} <= train_upos
    ner_labels = set(vocab["labels"]["ner"])
    assert {"B-ORG", "E-ORG", "S-PER"} <= ner_labels  # the BIO entities of the file, in the task's BIOES scheme

    result = runner.invoke(app, ["evaluate", str(model), str(paths["test"]), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout.strip().splitlines()[-1])[str(paths["test"])]["scores"]
    assert set(scores) == {"upos", "ner"}
    test = sample("test")
    assert 0.0 <= scores["upos"]["accuracy"] <= 1.0 and scores["upos"]["tokens"] == sum(len(s) for s in test)
    assert {"precision", "recall", "f1"} <= set(scores["ner"]) and 0.0 <= scores["ner"]["f1"] <= 1.0
    assert scores["ner"]["support"] == sum(len(tags_to_spans(s.tags["ner"], "BIO")) for s in test)
    # The same sentences from the column file score the same.
    same = runner.invoke(app, ["evaluate", str(model), "sample:test", "--json"])
    assert same.exit_code == 0, same.output
    assert json.loads(same.stdout.strip().splitlines()[-1])["sample:test"]["scores"] == scores
