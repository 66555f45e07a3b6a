"""tagger annotate on files: resume after an interruption gives exactly the uninterrupted output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tagger.annotate import annotate_file
from tagger.predict import Tagger

LINES = [f"Maria Lopez number {i} moved to Chicago." if i % 7 else "{not json" for i in range(1, 60)]


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


def write_input(path: Path) -> Path:
    path.write_text("".join((json.dumps({"id": i, "text": line}) if not line.startswith("{") else line) + "\n"
                            for i, line in enumerate(LINES)), encoding="utf-8")
    return path


def run(tagger: Tagger, source: Path, output: Path, **options) -> object:
    return annotate_file(tagger, source, output, input_format="jsonl", output_format="jsonl", batch_size=1, **options)


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tagger: Tagger, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    reference = run(tagger, source, tmp_path / "ref.jsonl")
    assert reference.done == 51 and reference.failed == 8

    calls = []

    def stop_after_two_chunks(records: int) -> None:
        calls.append(records)
        if len(calls) == 2:
            raise Interrupt

    output = tmp_path / "out.jsonl"
    with pytest.raises(Interrupt):
        run(tagger, source, output, on_progress=stop_after_two_chunks)
    partial = output.with_name("out.jsonl.partial")
    assert not output.exists() and partial.is_file()
    with partial.open("a", encoding="utf-8") as handle:
        handle.write('{"half": "a record cut off by a kill')  # what a kill mid-write leaves
    resumed = run(tagger, source, output, resume=True)
    assert resumed.resumed == 32  # two chunks of 16 records (batch_size 1 x 16)
    assert output.read_text() == (tmp_path / "ref.jsonl").read_text()
    assert (tmp_path / "out.errors.jsonl").read_text() == (tmp_path / "ref.errors.jsonl").read_text()
    assert not partial.exists() and not list(tmp_path.glob("*.progress"))


def test_without_resume_a_new_run_starts_over(tagger: Tagger, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    output = tmp_path / "out.jsonl"
    output.with_name("out.jsonl.partial").write_text("left over\n")
    summary = run(tagger, source, output)
    assert summary.resumed == 0 and "left over" not in output.read_text()
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()]
    assert ids == [i for i, line in enumerate(LINES) if not line.startswith("{")]  # input order, no gaps


def test_errors_file_only_when_there_are_errors(tagger: Tagger, tmp_path: Path) -> None:
    source = tmp_path / "clean.txt"
    source.write_text("Anna works in Oslo.\n\nTabs\there and emoji 🙂 too.\r\n", encoding="utf-8")
    summary = annotate_file(tagger, source, tmp_path / "out.jsonl", input_format="text", output_format="jsonl")
    assert summary.done == 2 and summary.failed == 0 and summary.errors_path is None
    assert not list(tmp_path.glob("*errors*"))
    second = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[1])
    text = second["text"]
    assert all(text[start:end] == token for token, (start, end) in zip(second["tokens"], second["offsets"]))


def test_long_documents_are_labelled_sentence_by_sentence_and_joined_back(tagger: Tagger) -> None:
    import spacy

    text = " ".join(f"Maria Lopez visited Chicago on day {i} , and the Red Cross sent help ." for i in range(20))
    prediction = tagger.predict(text)
    assert len(prediction.tokens) > 200
    assert all(text[start:end] == token for token, (start, end) in zip(prediction.tokens, prediction.offsets))
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    sentences = [[t.text for t in sent if not t.is_space] for sent in nlp(text).sents]
    assert len(sentences) == 20
    expected = tagger.predict(sentences)
    for task in tagger.tasks:
        assert prediction.tags[task] == [tag for p in expected for tag in p.tags[task]]
    assert [(s.label, text[s.start_char:s.end_char]) for s in prediction.spans["ner"]] == [
        (s.label, " ".join(p.tokens[s.start:s.end])) for p in expected for s in p.spans["ner"]
    ]
    # Pre-tokenized input has no sentence starts: pieces of 200 tokens.
    tokens = prediction.tokens
    windows = tagger.predict([tokens[:200], tokens[200:]])
    assert tagger.predict([tokens])[0].tags["upos"] == windows[0].tags["upos"] + windows[1].tags["upos"]


def test_the_spacy_component_splits_long_docs_like_the_tagger(tagger: Tagger, trained_tiny_model: Path) -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model)})
    text = " ".join(f"Anna flew to Oslo on day {i} ." for i in range(40))
    doc = nlp(text)
    assert len(doc) > 200 and not doc.has_annotation("SENT_START")  # the Doc is not changed
    assert [t.pos_ for t in doc] == tagger.predict(text).tags["upos"]


def test_spacy_output_reads_back_with_the_labels_of_the_jsonl_output(tagger: Tagger, tmp_path: Path) -> None:
    from tagger.readers import read_corpus

    source = tmp_path / "docs.txt"
    source.write_text("Maria Lopez moved to Chicago.\nThe Red Cross sent help to Denver .\n", encoding="utf-8")
    annotate_file(tagger, source, tmp_path / "out.jsonl", input_format="text", output_format="jsonl")
    summary = annotate_file(tagger, source, tmp_path / "out.spacy", input_format="text", output_format="spacy")
    assert summary.done == 2
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    back = list(read_corpus(tmp_path / "out.spacy"))
    assert [s.tokens for s in back] == [r["tokens"] for r in records]
    assert [s.tags["upos"] for s in back] == [r["tags"]["upos"] for r in records]
    assert [s.tags.get("ner", ["O"] * len(s.tokens)) for s in back] == [r["tags"]["ner"] for r in records]
    assert [s.meta["text"] for s in back] == [r["text"] for r in records]  # spaces rebuilt from the offsets


def test_a_folder_or_glob_of_text_files_is_one_document_per_file(tagger: Tagger, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "b.txt").write_text("Anna works in Oslo.\nShe likes it.\n", encoding="utf-8")
    (folder / "a.txt").write_text("Maria Lopez moved to Chicago.", encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"caf\xe9")
    for source in (folder, f"{folder}/*.txt"):
        output = tmp_path / "out.jsonl"
        summary = annotate_file(tagger, source, output, input_format="text", output_format="jsonl")
        records = [json.loads(line) for line in output.read_text().splitlines()]
        assert [Path(r["file"]).name for r in records] == ["a.txt", "b.txt"] and summary.failed == 1
        assert records[1]["text"] == "Anna works in Oslo.\nShe likes it.\n" and "She" in records[1]["tokens"]
        assert "bad.txt" in (tmp_path / "out.errors.jsonl").read_text()


def test_a_dataset_of_raw_text(tagger: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": ["Anna works in Oslo.", "Hi there"], "id": [1, 2]}).save_to_disk(str(folder))
    summary = annotate_file(tagger, folder, tmp_path / "out.jsonl", input_format="dataset", output_format="jsonl")
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary.done == 2 and records[0]["tokens"] == ["Anna", "works", "in", "Oslo", "."]


def test_two_workers_write_what_one_writes_in_input_order(tagger: Tagger, trained_tiny_model: Path, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    one = run(tagger, source, tmp_path / "one.jsonl")
    two = run(tagger, source, tmp_path / "two.jsonl", workers=2, model_dir=trained_tiny_model)
    assert (one.done, one.failed) == (two.done, two.failed) == (51, 8)
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    assert (tmp_path / "two.errors.jsonl").read_text() == (tmp_path / "one.errors.jsonl").read_text()
