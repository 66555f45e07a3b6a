"""The command line end to end on tiny data: train -> evaluate -> annotate -> info, and its errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from conftest import SAMPLE, TINY_CONFIG
from typer.testing import CliRunner

from tagger.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    config = root / "tiny.toml"
    config.write_text(TINY_CONFIG.format(train=SAMPLE / "train.conll", dev=SAMPLE / "dev.conll"))
    result = runner.invoke(app, ["train", str(config), "--output", str(root / "model"), "--set", "training.max_epochs=3",
                                 "--set", "data.max_train_sentences=60"])
    assert result.exit_code == 0, result.output
    assert "dev scores" in result.output
    return root / "model"


def test_train_records_overrides_in_the_saved_config(cli_model: Path) -> None:
    config = json.loads((cli_model / "config.json").read_text())
    assert config["training"]["max_epochs"] == 3
    assert config["data"]["max_train_sentences"] == 60
    assert len((cli_model / "metrics.jsonl").read_text().splitlines()) == 3


def test_evaluate_json_and_report(cli_model: Path, tmp_path: Path) -> None:
    corpus = str(SAMPLE / "test.conll")
    result = runner.invoke(app, ["evaluate", str(cli_model), corpus, "--json", "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.stdout.strip().splitlines()[-1])[corpus]
    scores = evaluation["scores"]
    assert set(scores) == {"upos", "ner"}
    assert 0.0 <= scores["upos"]["accuracy"] <= 1.0
    assert {"precision", "recall", "f1", "per_label"} <= set(scores["ner"])
    assert "NOUN" in scores["upos"]["per_label"]  # token tasks have their per-label rows too
    words = sum(1 for line in (SAMPLE / "test.conll").read_text().splitlines() if line.strip())
    assert evaluation["words"] == words and evaluation["words_per_second"] > 0
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"upos_per_label.tsv", "ner_per_label.tsv", "upos_confusion.png", "ner_confusion.png", "scores.json", "report.md"} <= written


def test_evaluate_several_corpora_prints_a_table_each_and_a_summary(cli_model: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(cli_model), "sample:dev", "sample:test", "--report", str(tmp_path / "report"),
                                 "-o", str(tmp_path / "pred.jsonl")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "summary" in result.stdout and "upos per label" in result.stdout and "words/s" in result.stdout
    summary = result.stdout[result.stdout.index("summary"):]
    assert "sample:dev" in summary and "sample:test" in summary
    assert {p.name for p in (tmp_path / "report").iterdir()} == {"sample-dev", "sample-test"}
    records = [json.loads(line) for line in (tmp_path / "pred.sample-test.jsonl").read_text().splitlines()]
    assert len(records) == sum(1 for block in (SAMPLE / "test.conll").read_text().split("\n\n") if block.strip())
    first = records[0]
    assert first["tokens"] and set(first["gold"]) == {"upos", "ner"} and set(first["tags"]) == {"upos", "ner"}
    assert first["errors"]["upos"] == sum(g != p for g, p in zip(first["gold"]["upos"], first["tags"]["upos"]))
    assert (tmp_path / "pred.sample-dev.jsonl").is_file()


def test_evaluate_output_in_columns_puts_gold_beside_predicted(cli_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "pred.conll"
    result = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", "-o", str(output)])
    assert result.exit_code == 0, result.output
    gold = [line.split("\t") for line in (SAMPLE / "test.conll").read_text().splitlines() if line.strip()]
    rows = [line.split("\t") for line in output.read_text().splitlines() if line]
    assert [r[0] for r in rows] == [g[0] for g in gold]
    assert [r[1] for r in rows] == [g[1] for g in gold]  # upos gold, then predicted; ner gold (BIO), then predicted
    assert all(len(r) == 5 and r[4][:2] in ("O", "B-", "I-") for r in rows)
    again = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", "-o", str(output)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    bad = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", "-o", str(tmp_path / "pred.xml")])
    assert bad.exit_code == 1 and ".jsonl" in bad.output
    itself = tmp_path / "copy.conll"
    itself.write_text((SAMPLE / "test.conll").read_text())
    same = runner.invoke(app, ["evaluate", str(cli_model), str(itself), "-o", str(itself), "--overwrite"])
    assert same.exit_code == 1 and "would write over the input" in same.output
    assert itself.read_text() == (SAMPLE / "test.conll").read_text()


def test_evaluate_refuses_a_corpus_twice_and_writes_nothing_when_one_corpus_fails(cli_model: Path, tmp_path: Path) -> None:
    twice = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", str(SAMPLE / "dev.conll"), "sample:test"])
    assert twice.exit_code == 1 and "sample:test is given twice" in twice.output
    unlabelled = tmp_path / "unlabelled.jsonl"
    unlabelled.write_text(json.dumps({"text": "Anna moved to Oslo."}) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    failed = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", str(unlabelled), "--report", str(out / "report"), "-o", str(out / "p.jsonl")])
    assert failed.exit_code == 1 and "has labels for none of the model's tasks" in failed.output
    assert not out.exists()  # the first corpus's files are not written either: a rerun needs no --overwrite
    (tmp_path / "file").write_text("x", encoding="utf-8")
    report_file = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", "--report", str(tmp_path / "file")])
    assert report_file.exit_code == 1 and "is a file" in report_file.output


def test_evaluate_report_lists_confusions_with_examples(cli_model: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", "--report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    from tagger.analysis.evaluation import evaluate_corpus
    from tagger.model.predict import Tagger

    evaluation = evaluate_corpus(Tagger.load(cli_model), "sample:test")
    wrong = [(g, p) for s, pr in zip(evaluation.gold, evaluation.predictions) for g, p in zip(s.tags["upos"], pr.tags["upos"]) if g != p]
    report = (tmp_path / "report.md").read_text()
    assert f"{len(wrong):,} of {evaluation.words:,} tokens wrong" in report
    assert wrong, "a model trained for 3 epochs on 60 sentences makes mistakes"
    (gold, predicted), n = Counter(wrong).most_common(1)[0]  # the most frequent confusion heads the table and has its examples
    assert f"| {gold} | {predicted} | {n:,} |" in report and f"### {gold} predicted as {predicted} ({n:,})" in report


def test_annotate_text_to_jsonl_and_conllu(cli_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "docs.txt"
    source.write_text("Maria Lopez moved to Chicago last year.\n\nThe Red Cross sent help.\n", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(cli_model), str(source), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == ["Maria Lopez moved to Chicago last year.", "The Red Cross sent help."]
    assert records[0]["tokens"][:2] == ["Maria", "Lopez"] and len(records[0]["tags"]["upos"]) == len(records[0]["tokens"])
    assert not list(tmp_path.glob("*.partial"))

    result = runner.invoke(app, ["annotate", str(cli_model), str(source), "-o", str(tmp_path / "out.conllu")])
    assert result.exit_code == 0, result.output
    blocks = (tmp_path / "out.conllu").read_text().strip().split("\n\n")
    assert len(blocks) == 2
    rows = [line.split("\t") for line in blocks[0].splitlines() if not line.startswith("#")]
    assert all(len(row) == 10 for row in rows) and rows[0][1] == "Maria" and rows[-2][9].endswith("SpaceAfter=No")


def test_annotate_threads_sets_torch_threads(cli_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    source = tmp_path / "docs.txt"
    source.write_text("Anna works in Oslo.\n", encoding="utf-8")
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 99)  # so that every batch sets it again
    seen: list[int] = []
    result = runner.invoke(app, ["annotate", str(cli_model), str(source), "-o", str(tmp_path / "out.jsonl"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert seen and set(seen) == {1}


def test_evaluate_threads_sets_torch_threads(cli_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 99)  # so that every batch sets it again
    seen: list[int] = []
    result = runner.invoke(app, ["evaluate", str(cli_model), "sample:test", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert seen and set(seen) == {1}


def test_annotated_conllu_reads_back(cli_model: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["annotate", str(cli_model), str(SAMPLE / "dev.conll"), "-o", str(tmp_path / "dev.conllu")])
    assert result.exit_code == 0, result.output
    from tagger.data.readers import read_corpus

    back = list(read_corpus(tmp_path / "dev.conllu"))
    original = list(read_corpus(SAMPLE / "dev.conll", columns={"upos": 1, "ner": 2}))
    assert [s.tokens for s in back] == [s.tokens for s in original]
    assert all(len(s.tags["upos"]) == len(s.tokens) for s in back)


def test_info_lists_tasks_and_scores(cli_model: Path) -> None:
    result = runner.invoke(app, ["info", str(cli_model)])
    assert result.exit_code == 0, result.output
    assert "task upos" in result.output and "task ner" in result.output and "dev ner" in result.output


def test_errors_name_the_file_and_line(cli_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.conll"
    broken.write_text("Hello\tINTJ\tO\n\nworld\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(cli_model), str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:3" in result.output.replace("\n", "")

    bad_config = tmp_path / "bad.toml"
    bad_config.write_text("[encoder]\nhiden_size = 3\n")
    result = runner.invoke(app, ["train", str(bad_config)])
    assert result.exit_code == 1 and "encoder.hiden_size" in result.output

    unlabelled = tmp_path / "unlabelled.toml"
    unlabelled.write_text(f'[data]\ntrain = "{SAMPLE / "train.conll"}"\n[tasks.upos]\n')
    result = runner.invoke(app, ["train", str(unlabelled), "--output", str(tmp_path / "m")])
    assert result.exit_code == 1 and "upos" in result.output and "columns" in result.output

    result = runner.invoke(app, ["info", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "no such model directory" in result.output


def test_annotate_jsonl_keeps_other_fields_and_reads_tokens_or_text(cli_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": 7, "text": "Anna works in Oslo."}) + "\n"
        + json.dumps({"id": 8, "tokens": ["Pre", "-", "tokenized", "."]}) + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["annotate", str(cli_model), str(source), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines())
    assert first["id"] == 7 and first["tokens"] == ["Anna", "works", "in", "Oslo", "."] and first["offsets"][3] == [14, 18]
    assert second["id"] == 8 and second["tokens"] == ["Pre", "-", "tokenized", "."] and len(second["tags"]["ner"]) == 4


def test_annotate_strict_stops_at_a_bad_record_naming_the_line(cli_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n{"text": broken\n', encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(cli_model), str(source), "-o", str(tmp_path / "out.jsonl"), "--strict"])
    assert result.exit_code == 1 and f"{source}:2" in result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_annotate_lists_bad_records_and_goes_on(cli_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"text": "fine"}\n{"text": broken\n[1, 2]\n{"id": 4}\n\xff\xfe\n{"text": "also fine"}\n')
    result = runner.invoke(app, ["annotate", str(cli_model), str(source), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == ["fine", "also fine"]
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [2, 3, 4, 5]
    assert "invalid JSON" in errors[0]["reason"] and "object" in errors[1]["reason"] and "UTF-8" in errors[3]["reason"]
    assert "4 bad records" in result.output.replace("\n", " ")
