"""tagger annotate --tasks, --scores and the HTML output."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import with_run
from typer.testing import CliRunner

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.cli import app
from tagger.core.errors import TaggerError
from tagger.model.predict import Tagger

runner = CliRunner()
TEXTS = ["Maria Lopez moved to Chicago to work for the Red Cross.", "Barack Obama met <b>Angela</b> in Berlin & Paris.", "Anna works in Oslo."]


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    path = tmp_path / "docs.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    return path


def test_tasks_and_scores_write_only_those_tasks_with_each_label_probability(tagger: Tagger, trained_tiny_model: Path, docs: Path,
                                                                            tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(output), "--tasks", "ner", "--scores"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    expected = tagger.predict(TEXTS, scores=True)
    assert len(records) == len(TEXTS)
    for record, prediction in zip(records, expected):
        assert set(record["tags"]) == set(record["spans"]) == set(record["scores"]) == {"ner"}
        assert record["tags"]["ner"] == prediction.tags["ner"]
        assert record["scores"]["ner"] == pytest.approx(prediction.scores["ner"])
        assert all(0.0 < p <= 1.0 for p in record["scores"]["ner"])


def test_tasks_take_a_comma_list_or_repeats_and_no_scores_by_default(trained_tiny_model: Path, docs: Path) -> None:
    for tasks in (["--tasks", "upos,ner"], ["--tasks", "upos", "--tasks", "ner"]):
        result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), *tasks])
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout.splitlines()[0])
        assert set(record["tags"]) == {"upos", "ner"} and "scores" not in record


def test_an_unknown_task_is_refused_before_anything_is_written(trained_tiny_model: Path, docs: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(output), "--tasks", "ner,pos"])
    assert result.exit_code == 1
    assert "--tasks: unknown task 'pos'" in result.output and "upos" in result.output
    assert list(tmp_path.iterdir()) == [docs]


def test_a_resume_with_other_tasks_or_scores_is_refused_and_the_same_one_continues(tagger: Tagger, tmp_path: Path) -> None:
    source = tmp_path / "many.txt"
    source.write_text("".join(f"{TEXTS[i % 3]} Number {i}.\n" for i in range(40)), encoding="utf-8")  # 3 chunks at batch size 1
    reference = tmp_path / "ref.jsonl"
    annotate_file(with_run(tagger, batch_size=1), source, reference, AnnotateOptions(tasks=("ner",)))
    output = tmp_path / "out.jsonl"

    def stop(records: int, words: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        annotate_file(with_run(tagger, batch_size=1), source, output, AnnotateOptions(tasks=("ner",)), on_progress=stop)
    for changed in (AnnotateOptions(tasks=("upos",), resume=True), AnnotateOptions(tasks=("ner",), scores=True, resume=True)):
        with pytest.raises(TaggerError, match="cannot resume"):
            annotate_file(tagger, source, output, changed)
    with pytest.raises(TaggerError, match="'ner' named more than once"):  # the service's rule too
        annotate_file(tagger, source, output, AnnotateOptions(tasks=("ner", "ner"), resume=True))
    summary = annotate_file(with_run(tagger, batch_size=1), source, output, AnnotateOptions(tasks=("ner",), resume=True))
    assert summary.resumed == 16 and summary.done == 40
    assert output.read_text(encoding="utf-8") == reference.read_text(encoding="utf-8")


def test_all_tasks_named_is_the_same_run_as_none_named(tagger: Tagger, docs: Path, tmp_path: Path) -> None:
    from tagger.annotate.resumable import output_options

    every = AnnotateOptions(tasks=tuple(reversed(tagger.tasks)))
    assert output_options(every, "text", "jsonl", tagger.tasks) == output_options(AnnotateOptions(), "text", "jsonl", tagger.tasks)
    assert output_options(AnnotateOptions(tasks=("ner",)), "text", "jsonl", tagger.tasks)["tasks"] == ["ner"]


def test_spacy_output_keeps_only_the_tasks_asked_for_with_their_scores(tagger: Tagger, docs: Path, tmp_path: Path) -> None:
    import spacy
    from spacy.tokens import DocBin

    output = tmp_path / "out.spacy"
    summary = annotate_file(tagger, docs, output, AnnotateOptions(tasks=("ner",), scores=True))
    assert summary.done == len(TEXTS)
    docs_read = list(DocBin().from_disk(output).get_docs(spacy.blank("en").vocab))
    expected = tagger.predict(TEXTS, scores=True)
    for doc, prediction in zip(docs_read, expected):
        assert [(e.text, e.label_) for e in doc.ents] == [(prediction.text[s.start_char:s.end_char], s.label) for s in prediction.spans["ner"]]
        assert not any(token.pos_ for token in doc)  # upos was not asked for
        assert [token._.birnn_scores["ner"] for token in doc] == pytest.approx(prediction.scores["ner"])


@pytest.mark.parametrize("suffix", [".conllu", ".conll"])
def test_scores_are_refused_where_the_format_has_no_place_for_them(trained_tiny_model: Path, docs: Path, tmp_path: Path, suffix: str) -> None:
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(tmp_path / f"out{suffix}"), "--scores"])
    assert result.exit_code == 1 and "no place for scores" in result.output
    assert list(tmp_path.iterdir()) == [docs]


class _Marks(HTMLParser):
    """The entity marks of a page: (text, label), the label being the badge inside the mark."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[str, str]] = []
        self._parts: list[list[str]] | None = None  # [text, badge] inside a mark
        self._in_badge = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "mark":
            self._parts = [[], []]
        elif tag == "span" and self._parts is not None:
            self._in_badge = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark" and self._parts is not None:
            self.marks.append(("".join(self._parts[0]).strip(), "".join(self._parts[1])))
            self._parts = None
        self._in_badge = False

    def handle_data(self, data: str) -> None:
        if self._parts is not None:
            self._parts[1 if self._in_badge else 0].append(data)


def test_html_output_highlights_the_entities_and_shows_the_tags(tagger: Tagger, trained_tiny_model: Path, docs: Path, tmp_path: Path) -> None:
    output = tmp_path / "page.html"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(output)])
    assert result.exit_code == 0, result.output
    page = output.read_text(encoding="utf-8")
    assert page.count("<!DOCTYPE html>") == 1 and page.count('<section class="doc">') == len(TEXTS)
    assert "<b>Angela</b>" not in page and "&lt;b&gt;" in page  # the text is escaped, never markup
    parsed = _Marks()
    parsed.feed(page)
    expected = tagger.predict(TEXTS)
    assert parsed.marks and parsed.marks == [(p.text[s.start_char:s.end_char], s.label) for p in expected for s in p.spans["ner"]]
    tokens = [(unescape(token), unescape(tag)) for token, tag in re.findall(r"<ruby[^>]*>([^<]*)<rt>([^<]*)</rt>", page)]
    assert tokens == [(t, tag) for p in expected for t, tag in zip(p.tokens, p.tags["upos"])]


def test_html_to_standard_output_and_for_token_lists(trained_tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "tokens.jsonl"
    source.write_text(json.dumps({"tokens": ["Anna", "works", "in", "Oslo", "."]}) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(source), "--output-format", "html", "--tasks", "upos"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert re.findall(r"<ruby[^>]*>([^<]*)<rt>", result.stdout) == ["Anna", "works", "in", "Oslo", "."]
    assert '<div class="entities"' not in result.stdout  # only upos was asked for: no entity block


def test_a_label_map_renames_entities_in_html_and_spacy_and_is_refused_elsewhere(tagger: Tagger, trained_tiny_model: Path, docs: Path,
                                                                                 tmp_path: Path) -> None:
    import spacy
    from spacy.tokens import DocBin

    expected = [(p.text[s.start_char:s.end_char], {"PER": "PERSON", "LOC": "GPE"}.get(s.label, s.label))
                for p in tagger.predict(TEXTS) for s in p.spans["ner"]]
    assert {label for _, label in expected} & {"PERSON", "GPE"}  # the map has something to rename
    page = tmp_path / "page.html"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(page), "--label-map", "PER=PERSON,LOC=GPE"])
    assert result.exit_code == 0, result.output
    parsed = _Marks()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert parsed.marks == expected
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(tmp_path / "d.spacy"), "--label-map", "PER=PERSON,LOC=GPE"])
    assert result.exit_code == 0, result.output
    read = DocBin().from_disk(tmp_path / "d.spacy").get_docs(spacy.blank("en").vocab)
    assert [(e.text, e.label_) for doc in read for e in doc.ents] == expected
    for output, options, says in (("o.jsonl", ["--label-map", "PER=PERSON"], "--label-map: renames entity types in the html and spacy outputs only"),
                                  ("o.html", ["--label-map", "NOPE=PERSON"], "NOPE"), ("o.html", ["--label-map", "PER"], "--label-map")):
        result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(docs), "-o", str(tmp_path / output), *options], env={"COLUMNS": "300"})
        assert result.exit_code in (1, 2) and says in result.output and not (tmp_path / output).exists(), result.output


def test_workers_take_the_threads_they_are_given(tagger: Tagger, docs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tagger.annotate.workers as workers

    started: list[object] = []
    monkeypatch.setattr(workers, "ProcessPoolExecutor", lambda *args, **kwargs: started.append(kwargs["initargs"][2]) or (_ for _ in ()).throw(SystemExit))
    for threads, expected in ((0, workers.cores_per_process(2)), (3, 3)):
        with pytest.raises(SystemExit):
            annotate_file(with_run(tagger, threads=threads), docs, tmp_path / f"o{threads}.jsonl", AnnotateOptions(workers=2))
        assert started.pop().threads == expected  # --threads N: N in each worker; 0: each its share of the cores
