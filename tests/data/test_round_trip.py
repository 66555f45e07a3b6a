"""What the toolkit writes, it reads back: every output format, written from hostile input, read again
gives the same tokens and labels; and what could not be written back is refused where it enters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.core.errors import DataFormatError, InputError
from tagger.core.types import BadRecord
from tagger.data.readers import read_corpus, read_records
from tagger.model.predict import Tagger

TEXTS = ["Anna\tmoved to\u2028Oslo.", "Bob\x0bsaw\x0cit\x1c here\x85 now", "line\r\nbreak and\u2029para", "ü\u00a0nbsp word",
         "# = 1 is a line of its own"]
TOKEN_LISTS = [["New York", "is", "big"], ["#", "=", "1"], ["# = 1", "x"], ["a_b", "|", "Key=Value", "_"]]


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("round-trip") / "in.jsonl"
    lines = [json.dumps({"text": text, "id": 2**62, "score": 1.5e300, "nested": [[{"a": None}]]}) for text in TEXTS]
    lines += [json.dumps({"tokens": tokens}, ensure_ascii=False) for tokens in TOKEN_LISTS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "conllu", "conll", "spacy"])
def test_every_output_format_reads_back_as_written(tagger: Tagger, records: Path, tmp_path: Path, fmt: str) -> None:
    output = tmp_path / f"out.{fmt}"
    summary = annotate_file(tagger, records, output, AnnotateOptions(output_format=fmt))
    assert summary.failed == 0
    expected = [p for p in tagger.predict([json.loads(line).get("text") or json.loads(line)["tokens"]
                                           for line in records.read_text(encoding="utf-8").splitlines()])]
    columns = {"conll": {"columns": {task: i + 1 for i, task in enumerate(tagger.tasks)}}}.get(fmt, {})
    back = list(read_corpus(output, fmt, **columns))
    assert [s.tokens for s in back] == [p.tokens for p in expected]
    readable = {"conllu": ["upos"], "spacy": []}.get(fmt, tagger.tasks)  # CoNLL-U reads UPOS back; a DocBin, pos and ents
    for task in readable:
        assert [s.tags[task] for s in back] == [p.tags[task] for p in expected], task
    if fmt == "jsonl":
        first = json.loads(output.read_text(encoding="utf-8").split("\n")[0])  # JSONL lines end at \n alone (U+2028 is text)
        assert (first["id"], first["score"], first["nested"]) == (2**62, 1.5e300, [[{"a": None}]])


@pytest.mark.parametrize("line, reason", [
    ('{"text": "a", "x": NaN}', "NaN is not a JSON number"),
    ('{"text": "a", "x": 1e999}', "out of the range"),
    ('{"text": "a", "x": -Infinity}', "-Infinity is not a JSON number"),
    ('{"text": "\\ud83d is half an emoji"}', "lone surrogate"),
    ('{"text": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ('{"text": "a", "x": ' + "9" * 5000 + "}", "4300 digits"),
    ('{"tokens": ["a\\tb", "c"]}', "holds a tab or a line break"),
    ('{"tokens": ["a\\u2028b"]}', "holds a tab or a line break"),
    ('{"tokens": [" "]}', "only whitespace"),
    ('{"tokens": ["a"], "tags": {"upos": ["NOUN "]}}', "has whitespace in it"),
])
def test_a_record_that_could_not_be_written_back_is_a_bad_record(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n", encoding="utf-8")
    first, bad = list(read_records(path, "jsonl"))
    assert not isinstance(first, BadRecord) and isinstance(bad, BadRecord)
    assert bad.line == 2 and reason in bad.reason


def test_a_label_with_stray_whitespace_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "train.conll"
    path.write_text("Anna\tPROPN\n\nruns\tVERB\nfast\tADV \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train.conll:3: .*token 2 \('fast'\): label 'ADV ' has whitespace"):
        list(read_corpus(path, "conll", columns={"upos": 1}))
    conllu = tmp_path / "train.conllu"
    conllu.write_text("1\tAnna\t_\tPROPN \t_\t_\t_\t_\t_\t_\n\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"train.conllu:1: .*label 'PROPN ' has whitespace"):
        list(read_corpus(conllu, "conllu"))


@pytest.mark.parametrize("tokens", [["a\tb"], ["New\nYork"], [" "], ["a", "b\u2029"]])
def test_the_api_refuses_a_token_no_output_could_write_back(tagger: Tagger, tokens: list[str]) -> None:
    with pytest.raises(InputError, match="input 0, token"):
        tagger.predict([tokens])
