"""Corpus readers (CoNLL-U, columns, .iob2, JSONL, text, datasets) and load_sentences merging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.core.config import SourceConfig, TaskConfig
from tagger.core.errors import DataFormatError
from tagger.data import load_sentences, read_source
from tagger.data.readers import infer_format, read_corpus
from tagger.data.readers.columns import read_columns
from tagger.data.readers.conllu import read_conllu
from tagger.data.readers.jsonl import read_jsonl
from tagger.data.readers.text import read_text


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def read_error(read, path: Path, line: int) -> str:
    """Run a read that must fail; check that the error names ``path`` and ``line``; return its message."""
    with pytest.raises(DataFormatError) as info:
        list(read())
    assert (info.value.path, info.value.line) == (str(path), line)
    return str(info.value)


def conllu_row(index: str, form: str, upos: str = "_", xpos: str = "_") -> str:
    return "\t".join([index, form, form.lower(), upos, xpos, "_", "_", "_", "_", "_"])


# --------------------------------------------------------------------------- CoNLL-U

CONLLU = "\n".join([
    "# sent_id = s1",
    "# text = I don't know.",
    conllu_row("1", "I", "PRON", "PRP"),
    conllu_row("2-3", "don't"),
    conllu_row("2", "do", "AUX", "VBP"),
    conllu_row("3", "n't", "PART", "RB"),
    conllu_row("4", "know", "VERB", "VB"),
    conllu_row("4.1", "ellipsis", "VERB", "VB"),
    conllu_row("5", ".", "PUNCT", "."),
    "",
    "# sent_id = s2",
    conllu_row("1", "Hello", "INTJ", "UH"),
    "",
]) + "\n"


def test_conllu_reads_upos_and_xpos_per_syntactic_word(tmp_path):
    first, second = read_conllu(write(tmp_path, "a.conllu", CONLLU))
    assert first.tokens == ["I", "do", "n't", "know", "."]
    assert first.tags["upos"] == ["PRON", "AUX", "PART", "VERB", "PUNCT"]
    assert first.tags["xpos"] == ["PRP", "VBP", "RB", "VB", "."]
    assert second.tokens == ["Hello"]
    assert second.tags == {"upos": ["INTJ"], "xpos": ["UH"]}


def test_conllu_multiword_tokens_kept_in_meta_not_as_tokens(tmp_path):
    first, second = read_conllu(write(tmp_path, "a.conllu", CONLLU))
    assert "don't" not in first.tokens
    assert first.meta["multiword"] == [[1, 3, "don't"]]
    start, end, form = first.meta["multiword"][0]
    assert first.tokens[start:end] == ["do", "n't"]
    assert "multiword" not in second.meta


def test_conllu_empty_nodes_are_skipped(tmp_path):
    first, _ = read_conllu(write(tmp_path, "a.conllu", CONLLU))
    assert "ellipsis" not in first.tokens
    assert len(first) == 5


def test_conllu_comments_kept_in_meta_and_text(tmp_path):
    first, second = read_conllu(write(tmp_path, "a.conllu", CONLLU))
    assert first.meta["sent_id"] == "s1"
    assert first.text == "I don't know."
    assert second.meta["sent_id"] == "s2"
    assert second.text is None
    assert first.meta["source"] == str(tmp_path / "a.conllu")


def test_conllu_without_tags_has_no_task(tmp_path):
    path = write(tmp_path, "a.conllu", conllu_row("1", "x") + "\n" + conllu_row("2", "y") + "\n")
    (sentence,) = read_conllu(path)
    assert sentence.tokens == ["x", "y"]
    assert sentence.tags == {}


def test_conllu_wrong_column_count_names_file_and_line(tmp_path):
    text = "# sent_id = a\n" + conllu_row("1", "ok", "X") + "\n" + "2\tbad\tbad\tX\n"
    path = write(tmp_path, "bad.conllu", text)
    message = read_error(lambda: read_conllu(path), path, 3)
    assert "10" in message


def test_conllu_out_of_sequence_id_names_line(tmp_path):
    text = conllu_row("1", "a", "X") + "\n" + conllu_row("3", "b", "X") + "\n"
    path = write(tmp_path, "bad.conllu", text)
    message = read_error(lambda: read_conllu(path), path, 2)
    assert "sequence" in message


def test_conllu_ids_restart_after_blank_line(tmp_path):
    text = conllu_row("1", "a", "X") + "\n\n" + conllu_row("2", "b", "X") + "\n"
    path = write(tmp_path, "bad.conllu", text)
    read_error(lambda: read_conllu(path), path, 3)


def test_conllu_bad_token_id(tmp_path):
    path = write(tmp_path, "bad.conllu", conllu_row("one", "a", "X") + "\n")
    read_error(lambda: read_conllu(path), path, 1)


# --------------------------------------------------------------------------- column files

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def test_conll2003_space_separated_with_docstart(tmp_path):
    path = write(tmp_path, "eng.conll", CONLL2003)
    sentences = list(read_corpus(path, columns={"ner": 3}))
    assert [s.tokens for s in sentences] == [
        ["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert sentences[0].tags == {"ner": ["B-ORG", "O", "B-MISC", "O"]}
    assert sentences[1].tags == {"ner": ["B-PER", "I-PER"]}
    assert sentences[1].meta["line"] == 8
    assert all("-DOCSTART-" not in s.tokens for s in sentences)


def test_columns_several_tasks(tmp_path):
    path = write(tmp_path, "eng.conll", CONLL2003)
    first = next(read_columns(path, columns={"pos": 1, "ner": 3}))
    assert first.tags["pos"] == ["NNP", "VBZ", "JJ", "NN"]
    assert first.tags["ner"] == ["B-ORG", "O", "B-MISC", "O"]


def test_columns_default_reads_last_column_as_ner(tmp_path):
    path = write(tmp_path, "eng.conll", CONLL2003)
    sentences = list(read_columns(path))
    assert sentences[0].tags == {"ner": ["B-ORG", "O", "B-MISC", "O"]}
    assert sentences[2].tags == {"ner": ["B-LOC"]}


def test_columns_tab_separated_keeps_spaces_inside_fields(tmp_path):
    path = write(tmp_path, "a.tsv", "New York\tPROPN\tB-LOC\nis\tAUX\tO\n\nHi\tINTJ\tO\n")
    sentences = list(read_corpus(path, columns={"upos": 1, "ner": 2}))
    assert sentences[0].tokens == ["New York", "is"]
    assert sentences[0].tags == {"upos": ["PROPN", "AUX"], "ner": ["B-LOC", "O"]}
    assert sentences[1].tokens == ["Hi"]


def test_columns_token_only_file_has_no_tags(tmp_path):
    path = write(tmp_path, "a.conll", "a\nb\n")
    (sentence,) = read_columns(path)
    assert sentence.tokens == ["a", "b"]
    assert sentence.tags == {}


IOB2 = (
    "# global.columns = ID FORM NER\n"
    "# sent_id = en_ewt-ud-train-0001\n"
    "# text = Al Gore spoke\n"
    "1\tAl\tB-PER\t-\tAnnotator1\n"
    "2\tGore\tI-PER\t-\tAnnotator1\n"
    "3\tspoke\tO\t-\tAnnotator1\n"
    "\n"
    "# sent_id = en_ewt-ud-train-0002\n"
    "# text = In Paris\n"
    "1\tIn\tO\n"
    "2\tParis\tB-LOC\n"
)


def test_iob2_default_layout_via_read_corpus(tmp_path):
    path = write(tmp_path, "en.iob2", IOB2)
    assert infer_format(path) == "iob2"
    first, second = read_corpus(path)
    assert first.tokens == ["Al", "Gore", "spoke"]
    assert first.tags == {"ner": ["B-PER", "I-PER", "O"]}
    assert first.meta["sent_id"] == "en_ewt-ud-train-0001"
    assert first.text == "Al Gore spoke"
    assert first.meta["line"] == 4
    assert second.tokens == ["In", "Paris"]
    assert second.tags == {"ner": ["O", "B-LOC"]}
    assert second.meta["sent_id"] == "en_ewt-ud-train-0002"


def test_columns_too_few_columns_names_line(tmp_path):
    path = write(tmp_path, "en.iob2", "1\tAl\tB-PER\n2\tGore\n")
    message = read_error(lambda: read_corpus(path), path, 2)
    assert "at least 3 columns" in message


def test_columns_too_few_columns_with_explicit_columns(tmp_path):
    path = write(tmp_path, "a.conll", "EU NNP B-NP B-ORG\n\nrejects VBZ\n")
    read_error(lambda: read_corpus(path, columns={"ner": 3}), path, 3)


# --------------------------------------------------------------------------- JSONL

def test_jsonl_tokens_and_tag_list(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"tokens": ["a", "b"], "tags": ["O", "B-X"], "id": 7}\n')
    (sentence,) = read_jsonl(path)
    assert sentence.tokens == ["a", "b"]
    assert sentence.tags == {"tags": ["O", "B-X"]}
    assert sentence.meta["record"]["id"] == 7
    assert sentence.meta["line"] == 1


def test_jsonl_tag_list_under_named_task(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"tokens": ["a", "b"], "labels": ["O", "B-X"]}\n')
    (sentence,) = read_corpus(path, columns={"ner": "labels"})
    assert sentence.tags == {"ner": ["O", "B-X"]}


def test_jsonl_tags_dict_of_tasks(tmp_path):
    path = write(tmp_path, "a.jsonl",
                 '\n{"tokens": ["a", "b"], "tags": {"upos": ["X", "Y"], "ner": ["O", "S-P"]}}\n\n')
    (sentence,) = read_jsonl(path)
    assert sentence.tags == {"upos": ["X", "Y"], "ner": ["O", "S-P"]}
    assert sentence.meta["line"] == 2


def test_jsonl_text_records(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "Hello world."}\n{"text": "Bye."}\n')
    first, second = read_corpus(path)
    assert first.tokens == [] and first.text == "Hello world."
    assert second.text == "Bye." and second.meta["line"] == 2


def test_jsonl_invalid_json_names_line(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"text": "ok"}\n{"text": oops}\n')
    message = read_error(lambda: read_jsonl(path), path, 2)
    assert "invalid JSON" in message


def test_jsonl_wrong_tag_length(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n')
    message = read_error(lambda: read_jsonl(path), path, 2)
    assert "2 strings" in message


@pytest.mark.parametrize("line", ['["a", "b"]', '"text"', "3"])
def test_jsonl_non_object_line(tmp_path, line):
    path = write(tmp_path, "a.jsonl", '{"text": "ok"}\n' + line + "\n")
    message = read_error(lambda: read_jsonl(path), path, 2)
    assert "object" in message


def test_jsonl_record_without_tokens_or_text(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"words": ["a"]}\n')
    read_error(lambda: read_jsonl(path), path, 1)


# --------------------------------------------------------------------------- plain text, encodings

def test_text_one_document_per_non_empty_line(tmp_path):
    path = write(tmp_path, "a.txt", "First line.\n\n   \nSecond one\n")
    sentences = list(read_corpus(path))
    assert [s.text for s in sentences] == ["First line.", "Second one"]
    assert [s.meta["line"] for s in sentences] == [1, 4]
    assert all(s.tokens == [] for s in sentences)


def test_text_reader_direct(tmp_path):
    (sentence,) = read_text(write(tmp_path, "a.txt", "only\n"))
    assert sentence.text == "only"


def test_bad_utf8_names_line(tmp_path):
    path = write(tmp_path, "a.conll", b"EU B-ORG\nrej\xff\xfeects O\ncall O\n")
    message = read_error(lambda: read_corpus(path), path, 2)
    assert "UTF-8" in message


def test_bom_is_dropped(tmp_path):
    path = write(tmp_path, "a.conll", "\ufeffEU B-ORG\nrejects O\n")
    (sentence,) = read_corpus(path)
    assert sentence.tokens == ["EU", "rejects"]


def test_bom_is_dropped_before_conllu_comment(tmp_path):
    path = write(tmp_path, "a.conllu", "\ufeff# sent_id = x\n" + conllu_row("1", "a", "X") + "\n")
    (sentence,) = read_corpus(path)
    assert sentence.meta["sent_id"] == "x"


def test_crlf_line_endings(tmp_path):
    path = write(tmp_path, "a.conllu", CONLLU.replace("\n", "\r\n"))
    first, second = read_corpus(path)
    assert first.tags["xpos"][-1] == "."
    assert first.text == "I don't know."
    assert second.meta["sent_id"] == "s2"
    path = write(tmp_path, "b.conll", "EU NNP B-ORG\r\nrejects VBZ O\r\n\r\nHi UH O\r\n")
    first, second = read_corpus(path)
    assert first.tags == {"ner": ["B-ORG", "O"]}
    assert second.tokens == ["Hi"]


@pytest.mark.parametrize("name,text", [("a.conllu", ""), ("a.conll", "\n\n"), ("a.jsonl", "\n"), ("a.txt", "")])
def test_empty_file_holds_no_sentence(tmp_path, name, text):
    path = write(tmp_path, name, text)
    with pytest.raises(DataFormatError, match="holds no sentence"):
        list(read_corpus(path))


def test_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        list(read_corpus(tmp_path / "nope.conll"))


def test_unknown_extension(tmp_path):
    path = write(tmp_path, "a.xyz", "a O\n")
    with pytest.raises(DataFormatError) as info:
        infer_format(path)
    assert ".xyz" in str(info.value) and info.value.line is None
    with pytest.raises(DataFormatError):
        list(read_corpus(path))


def test_explicit_format_overrides_extension(tmp_path):
    path = write(tmp_path, "a.xyz", "a O\n")
    (sentence,) = read_corpus(path, "conll")
    assert sentence.tags == {"ner": ["O"]}
    with pytest.raises(DataFormatError, match="unknown format"):
        list(read_corpus(path, "xml"))


@pytest.mark.parametrize("suffix,fmt", [(".conllu", "conllu"), (".CONLL", "conll"), (".tsv", "conll"),
                                        (".iob2", "iob2"), (".jsonl", "jsonl"), (".txt", "text")])
def test_infer_format(suffix, fmt):
    assert infer_format("x/y" + suffix) == fmt


# --------------------------------------------------------------------------- Hugging Face datasets

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def make_dataset():
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NAMES)),
    })
    return datasets.Dataset.from_dict(
        {"tokens": [["John", "Smith", "visits", "Paris"], ["Hi"]], "ner_tags": [[1, 2, 0, 3], [0]]},
        features=features,
    )


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def test_hf_dataset_saved_to_disk(tmp_path, offline):
    from tagger.data.readers.hf_datasets import read_dataset

    folder = tmp_path / "ds"
    make_dataset().save_to_disk(str(folder))
    first, second = read_dataset(str(folder), split="train", columns={"ner": "ner_tags"})
    assert first.tokens == ["John", "Smith", "visits", "Paris"]
    assert first.tags == {"ner": ["B-PER", "I-PER", "O", "B-LOC"]}
    assert second.tags == {"ner": ["O"]}
    assert second.meta["line"] == 2


def test_hf_dataset_dict_split(tmp_path, offline):
    import datasets

    from tagger.data.readers.hf_datasets import read_dataset

    folder = tmp_path / "dd"
    dataset = make_dataset()
    datasets.DatasetDict({"train": dataset, "validation": dataset.select([1])}).save_to_disk(str(folder))
    (only,) = read_dataset(str(folder), split="validation", columns={"ner": "ner_tags"})
    assert only.tokens == ["Hi"] and only.tags == {"ner": ["O"]}
    # Without columns every label field becomes a task named after it.
    first, _ = read_dataset(str(folder), split="train")
    assert first.tags == {"ner_tags": ["B-PER", "I-PER", "O", "B-LOC"]}


def test_hf_dataset_missing_field(tmp_path, offline):
    from tagger.data.readers.hf_datasets import read_dataset

    folder = tmp_path / "ds"
    make_dataset().save_to_disk(str(folder))
    with pytest.raises(DataFormatError, match="pos_tags"):
        list(read_dataset(str(folder), columns={"upos": "pos_tags"}))


def test_hf_dataset_through_load_sentences_in_bioes(tmp_path, offline):
    folder = tmp_path / "ds"
    make_dataset().save_to_disk(str(folder))
    source = SourceConfig(dataset=str(folder), split="train", columns={"ner": "ner_tags"})
    first, second = load_sentences([source], {"ner": TaskConfig(decoder="crf", scheme="BIOES")})
    assert first.tags == {"ner": ["B-PER", "E-PER", "O", "S-LOC"]}
    assert second.tags == {"ner": ["O"]}


def test_hf_dataset_from_local_json_files(tmp_path, offline):
    rows = [{"words": ["Anna", "flew", "to", "Oslo"], "labels": ["B-PER", "O", "O", "B-LOC"]}, {"words": ["Hi"], "labels": ["O"]}]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    source = SourceConfig(dataset="json", data_files=[str(data)], split="train", tokens_field="words", columns={"ner": "labels"})
    first, second = load_sentences([source], {"ner": TaskConfig(decoder="crf", scheme="BIOES")})
    assert first.tokens == ["Anna", "flew", "to", "Oslo"] and first.tags == {"ner": ["S-PER", "O", "O", "S-LOC"]}
    assert second.tags == {"ner": ["O"]}


def test_hf_dataset_of_raw_text_gives_text_sentences(tmp_path, offline):
    data = tmp_path / "text.jsonl"
    data.write_text("\n".join(json.dumps({"text": t}) for t in ["Anna flew to Oslo.", "   ", "Hi there"]) + "\n")
    source = SourceConfig(dataset="json", data_files=[str(data)], split="train")
    sentences = list(read_source(source))
    assert [(s.tokens, s.text) for s in sentences] == [([], "Anna flew to Oslo."), ([], "Hi there")]
    assert sentences[1].meta["line"] == 3  # the blank row is skipped, rows keep their numbers


# --------------------------------------------------------------------------- load_sentences: merging, schemes

UD = "\n".join([
    "# sent_id = s1",
    conllu_row("1", "Al", "PROPN"), conllu_row("2", "Gore", "PROPN"), conllu_row("3", "spoke", "VERB"),
    "",
    "# sent_id = s2",
    conllu_row("1", "In", "ADP"), conllu_row("2", "Paris", "PROPN"),
    "",
    "# sent_id = s3",
    conllu_row("1", "Hello", "INTJ"),
    "",
]) + "\n"

UNER = (
    "# sent_id = s1\n1\tAl\tB-PER\n2\tGore\tI-PER\n3\tspoke\tO\n\n"
    "# sent_id = s2\n1\tIn\tO\n2\tParis\tB-LOC\n\n"
    "# sent_id = s3\n1\tHello\tO\n2\tthere\tO\n"
)
TASKS = {"upos": TaskConfig(), "ner": TaskConfig(decoder="crf", scheme="BIO")}


def test_load_sentences_merges_by_sent_id(tmp_path):
    ud = write(tmp_path, "ud.conllu", UD)
    uner = write(tmp_path, "uner.iob2", UNER)
    sentences = load_sentences([SourceConfig(path=str(ud)), SourceConfig(path=str(uner))], TASKS)
    by_id = {}
    for s in sentences:
        by_id.setdefault(s.meta["sent_id"], []).append(s)
    (s1,) = by_id["s1"]
    assert s1.tags == {"upos": ["PROPN", "PROPN", "VERB"], "ner": ["B-PER", "I-PER", "O"]}
    (s2,) = by_id["s2"]
    assert s2.tags == {"upos": ["ADP", "PROPN"], "ner": ["O", "B-LOC"]}
    # s3 has other tokens in the two files: kept apart, each with its own task.
    assert len(by_id["s3"]) == 2
    assert sorted(tuple(s.tags) for s in by_id["s3"]) == [("ner",), ("upos",)]
    assert len(sentences) == 4


def test_load_sentences_keeps_only_model_tasks(tmp_path):
    ud = write(tmp_path, "ud.conllu", UD)
    sentences = load_sentences([SourceConfig(path=str(ud))], {"upos": TaskConfig()})
    assert all(set(s.tags) == {"upos"} for s in sentences)


def test_load_sentences_limit(tmp_path):
    ud = write(tmp_path, "ud.conllu", UD)
    assert len(load_sentences([SourceConfig(path=str(ud))], {"upos": TaskConfig()}, limit=2)) == 2


def test_load_sentences_keeps_repeated_sentences_of_one_source(tmp_path):
    path = write(tmp_path, "a.conll", "LONDON B-LOC\n1996-08-30 O\n\nHi O\n\nLONDON B-LOC\n1996-08-30 O\n")
    sentences = load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(scheme="BIO")})
    assert len(sentences) == 3


BIO_STRAY = "1\tJohn\tB-PER\n2\tSmith\tI-PER\n\n1\tin\tO\n2\tthe\tO\n3\tParis\tI-LOC\n"


def test_stray_inside_tag_is_repaired_without_strict(tmp_path):
    path = write(tmp_path, "a.iob2", BIO_STRAY)
    first, second = load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(scheme="BIO")})
    assert first.tags["ner"] == ["B-PER", "I-PER"]
    assert second.tags["ner"] == ["O", "O", "B-LOC"]


def test_stray_inside_tag_rejected_when_strict(tmp_path):
    path = write(tmp_path, "a.iob2", BIO_STRAY)
    read_error(lambda: load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(scheme="BIO", strict=True)}), path, 6)


def test_strict_error_names_line_of_token_in_bioes_file(tmp_path):
    # With E-/S- tags the data is read as BIOES, where strictness applies.
    path = write(tmp_path, "a.iob2", "1\tJohn\tS-PER\n\n1\tin\tO\n2\tthe\tO\n3\tParis\tI-LOC\n4\tx\tE-LOC\n")
    message = read_error(lambda: load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(scheme="BIO", strict=True)}), path, 5)
    assert "I-LOC" in message


def test_strict_error_line_in_jsonl_is_the_record_line(tmp_path):
    path = write(tmp_path, "a.jsonl", '{"tokens": ["a", "b", "c"], "tags": {"ner": ["O", "S-PER", "I-PER"]}}\n')
    read_error(lambda: load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(scheme="BIO", strict=True)}), path, 1)


def test_iob1_input_converted_to_bioes(tmp_path):
    path = write(tmp_path, "a.conll", "EU I-ORG\nrejects O\nGerman I-MISC\nBritish B-MISC\nlamb O\n")
    (sentence,) = load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(decoder="crf", scheme="BIOES")})
    assert sentence.tags["ner"] == ["S-ORG", "O", "S-MISC", "S-MISC", "O"]


def test_non_span_tags_in_span_task(tmp_path):
    path = write(tmp_path, "a.conll", "EU NNP\nrejects VBZ\n")
    with pytest.raises(DataFormatError) as info:
        load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(scheme="BIO")})
    assert info.value.path == str(path)
    assert "NNP" in str(info.value)
