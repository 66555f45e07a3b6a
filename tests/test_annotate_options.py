"""tagger annotate --tasks, --scores and the HTML output."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.cli import app
from tagger.errors import TaggerError
from tagger.predict import Tagger

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


def test_a_resume_with_other_tasks_is_refused(tagger: Tagger, docs: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"

    def stop(records: int, words: int) -> None:
        raise KeyboardInterrupt

    options = AnnotateOptions(batch_size=1, tasks=("ner",))
    with pytest.raises(KeyboardInterrupt):
        annotate_file(tagger, docs, output, options, on_progress=stop)
    with pytest.raises(TaggerError, match="tasks"):
        annotate_file(tagger, docs, output, AnnotateOptions(batch_size=1, tasks=("upos",), resume=True))
    summary = annotate_file(tagger, docs, output, AnnotateOptions(batch_size=1, tasks=("ner",), resume=True))
    assert summary.done == len(TEXTS)


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
