"""tagger benchmark: the sweep's rows and their statistics, int8 agreement, the JSON, the option errors,
the default corpus. Nothing here asserts on a speed: the machine is shared."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tagger.analysis.benchmark import (
    Interval,
    SweepOptionError,
    SweepOptions,
    agreement_with,
    confidence_interval,
    load_corpus,
    percentile,
    run_sweep,
    t_95,
    usable_cores,
)
from tagger.cli import app
from tagger.core.config import SourceConfig
from tagger.core.errors import TaggerError
from tagger.model.predict import Tagger

runner = CliRunner()
SMALL = ["--batch-sizes", "1,4", "--precisions", "fp32", "--threads", "1", "--warmup", "0", "--passes", "2", "--limit", "10"]


@pytest.fixture(scope="module")
def tiny_tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture
def one_thread() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_sweep_gives_a_row_per_point_with_consistent_statistics(tiny_tagger: Tagger, one_thread: None) -> None:
    corpus = load_corpus(tiny_tagger, "sample:test", limit=12)
    options = SweepOptions(batch_sizes=(1, 4), precisions=("fp32",), threads=(1,), warmup=1, passes=2)
    steps: list[int] = []
    rows = run_sweep(tiny_tagger, corpus, options, lambda what, n: steps.append(n))
    assert [(r.precision, r.threads, r.batch_size) for r in rows] == [("fp32", 1, 1), ("fp32", 1, 4)]
    assert sum(steps) == options.steps == 2 * (1 + 2)
    assert len(corpus.sentences) == 12
    for row in rows:
        assert row.skipped is None and row.agreement is None  # fp32 is the reference, not compared with itself
        assert row.words == corpus.words and row.sentences == 12
        assert row.words_per_s > 0 and row.sentences_per_s > 0
        assert row.words_per_s_ci95 is not None and row.words_per_s_ci95.low <= row.words_per_s <= row.words_per_s_ci95.high
        assert 0 < row.batch_ms_p50 <= row.batch_ms_p95
        assert row.peak_rss_mib > 0 and row.peak_scope in ("row", "process")
    assert torch.get_num_threads() == 1


def test_threads_are_restored(tiny_tagger: Tagger, one_thread: None) -> None:
    if usable_cores() < 2:
        pytest.skip("needs 2 cores to sweep threads")
    corpus = load_corpus(tiny_tagger, "sample:test", limit=4)
    seen: list[int] = []
    label = tiny_tagger.label_sentences
    tiny_tagger.label_sentences = lambda *args, **kwargs: seen.append(torch.get_num_threads()) or label(*args, **kwargs)  # type: ignore[method-assign]
    try:
        rows = run_sweep(tiny_tagger, corpus, SweepOptions((4,), ("fp32",), (2, 1), warmup=0, passes=1))
    finally:
        del tiny_tagger.label_sentences
    assert [row.threads for row in rows] == [2, 1] and rows[0].words_per_s_ci95 is None  # one pass: no interval
    assert seen == [2, 1]  # each row runs with the threads it reports (the thread policy is the row's)
    assert torch.get_num_threads() == 1 and tiny_tagger.run.threads == 0


def test_int8_rows_agree_with_fp32_and_leave_the_model_at_fp32(tiny_tagger: Tagger, one_thread: None) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    corpus = load_corpus(tiny_tagger, "sample:test", limit=20)
    rows = run_sweep(tiny_tagger, corpus, SweepOptions((8,), ("int8", "int8-all"), (1,), warmup=0, passes=2))
    assert [r.precision for r in rows] == ["int8", "int8-all"]
    for row in rows:
        assert row.skipped is None and row.words_per_s > 0
        assert 0.0 <= row.agreement <= 1.0
    assert rows[0].agreement == 1.0  # one LSTM layer: int8 keeps the first layer in fp32, so nothing is quantized
    assert tiny_tagger.precision == "fp32" and tiny_tagger.model.encoder.runner is None


def test_int8_without_onnxruntime_is_a_skipped_row(tiny_tagger: Tagger, monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    from tagger.nn import onnx_encoder

    def missing() -> None:
        raise TaggerError("int8 precision needs onnx and onnxruntime (onnxruntime is missing)")

    monkeypatch.setattr(onnx_encoder, "require_onnxruntime", missing)
    corpus = load_corpus(tiny_tagger, "sample:test", limit=5)
    rows = run_sweep(tiny_tagger, corpus, SweepOptions((1, 5), ("int8", "fp32"), (1,), warmup=0, passes=1))
    assert [(r.precision, r.batch_size) for r in rows] == [("int8", 1), ("int8", 5), ("fp32", 1), ("fp32", 5)]
    assert all("onnxruntime is missing" in r.skipped and r.words_per_s is None for r in rows[:2])
    assert all(r.skipped is None and r.words_per_s > 0 for r in rows[2:])


def test_cli_shows_why_int8_was_skipped(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None) -> None:
    from tagger.nn import onnx_encoder

    def missing() -> None:
        raise TaggerError("int8 precision needs onnx and onnxruntime (onnxruntime is missing): pip install 'birnn-tagger[onnx]'")

    monkeypatch.setattr(onnx_encoder, "require_onnxruntime", missing)
    result = runner.invoke(app, ["benchmark", str(trained_tiny_model), "sample:test", *SMALL, "--precisions", "fp32,int8"])
    assert result.exit_code == 0, result.output
    assert "int8 skipped: int8 precision needs onnx and onnxruntime (onnxruntime is missing): pip install 'birnn-tagger[onnx]'" in result.stdout


def test_cli_json_and_output_file(trained_tiny_model: Path, tmp_path: Path, one_thread: None) -> None:
    written = tmp_path / "bench.json"
    result = runner.invoke(app, ["benchmark", str(trained_tiny_model), "sample:test", *SMALL, "--json", "--output", str(written)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"machine", "model", "corpus", "options", "rows"}
    assert {"cpu", "cores", "torch", "onnxruntime"} <= set(report["machine"])
    assert report["options"]["batch_sizes"] == [1, 4] and report["options"]["passes"] == 2
    assert report["corpus"]["sentences"] == 10
    assert [row["batch_size"] for row in report["rows"]] == [1, 4]
    for row in report["rows"]:
        assert row["words_per_s_ci95"]["low"] <= row["words_per_s"] <= row["words_per_s_ci95"]["high"]
    assert json.loads(written.read_text()) == report


def test_cli_table_names_what_was_timed(trained_tiny_model: Path, one_thread: None) -> None:
    result = runner.invoke(app, ["benchmark", str(trained_tiny_model), "sample:test", *SMALL])
    assert result.exit_code == 0, result.output
    assert "words/s" in result.stdout and "pre-tokenized" in result.stdout
    assert result.stdout.count("fp32") >= 2 and "…" not in result.stdout  # a row per batch size, numbers not cut


def test_cli_text_corpus_is_tokenized_once(trained_tiny_model: Path, tmp_path: Path, one_thread: None) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Alice lives in Paris.\n\nBob works for Acme Corp in London.\n", encoding="utf-8")
    result = runner.invoke(app, ["benchmark", str(trained_tiny_model), str(text), *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    corpus = json.loads(result.stdout)["corpus"]
    assert corpus["sentences"] == 2 and corpus["words"] == 5 + 8  # spaCy splits the full stops off


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--batch-sizes", "0,32", "--batch-sizes: must be at least 1, got 0"),
    ("--batch-sizes", "1,x", "--batch-sizes: '1,x' is not a comma-separated list"),
    ("--batch-sizes", "32,32", "--batch-sizes: 32 is given twice"),
    ("--precisions", "fp32,fp16", "--precisions: 'fp16' is not one of 'fp32', 'int8', 'int8-all'"),
    ("--threads", "0", "--threads: 0 threads"),
    ("--threads", str(usable_cores() + 1), f"choose 1 to {usable_cores()}"),
])
def test_bad_options_are_named(trained_tiny_model: Path, option: str, value: str, says: str) -> None:
    args = ["benchmark", str(trained_tiny_model), "sample:test", "--threads", "1", option, value]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert says in " ".join(result.output.split())


def test_sweep_options_check_the_library_values_too() -> None:
    with pytest.raises(SweepOptionError, match="passes"):
        SweepOptions(passes=0)
    with pytest.raises(SweepOptionError, match="batch_sizes: give at least one value"):
        SweepOptions(batch_sizes=())
    assert SweepOptions(threads=(1,)).rows == 3 * 1 * 3


def test_default_corpus_missing_is_a_clear_error(trained_tiny_model: Path) -> None:
    result = runner.invoke(app, ["benchmark", str(trained_tiny_model), *SMALL])
    assert result.exit_code == 1
    assert "no test corpus" in result.output and "give a CORPUS" in result.output


def test_default_corpus_is_the_model_test_corpus(tiny_tagger: Tagger, tmp_path: Path, one_thread: None) -> None:
    from tagger.model.serialize import save_model

    data = dataclasses.replace(tiny_tagger.config.data, test=[SourceConfig(path="sample:test")])
    directory = tmp_path / "with-test"
    save_model(directory, tiny_tagger.model, tiny_tagger.vocab, dataclasses.replace(tiny_tagger.config, data=data), tiny_tagger.meta)
    result = runner.invoke(app, ["benchmark", str(directory), *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["corpus"] == {"name": "sample:test", "sentences": 10, "words": load_corpus(tiny_tagger, "sample:test", limit=10).words}


def test_confidence_interval_is_student_t() -> None:
    interval = confidence_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(df 2) = 4.303
    assert isinstance(interval, Interval)
    assert (interval.low, interval.high) == pytest.approx((2 - 4.303 / 3 ** 0.5, 2 + 4.303 / 3 ** 0.5))
    assert confidence_interval([5.0]) is None
    assert t_95(1) == 12.706 and t_95(35) == t_95(30) and t_95(1000) == 1.96


def test_percentile_matches_numpy() -> None:
    rng = random.Random(3)
    values = [rng.random() for _ in range(37)]
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([4.0], 95) == 4.0


def test_agreement_counts_tokens() -> None:
    reference = [[("NOUN", "O"), ("VERB", "O")], [("PROPN", "B-PER")]]
    assert agreement_with(reference, [[("NOUN", "O"), ("VERB", "B-LOC")], [("PROPN", "B-PER")]]) == pytest.approx(2 / 3)


def test_format_reads_a_file_whose_name_does_not_say(trained_tiny_model: Path, tmp_path: Path, one_thread: None) -> None:
    from conftest import SAMPLE

    corpus = tmp_path / "test.data"
    corpus.write_text((SAMPLE / "test.conll").read_text(encoding="utf-8"), encoding="utf-8")
    result = runner.invoke(app, ["benchmark", str(trained_tiny_model), str(corpus), *SMALL, "--format", "conll", "--json"])
    assert result.exit_code == 0, result.output
    same = runner.invoke(app, ["benchmark", str(trained_tiny_model), "sample:test", *SMALL, "--json"])
    assert json.loads(result.stdout)["corpus"]["words"] == json.loads(same.stdout)["corpus"]["words"] > 0
    unknown = runner.invoke(app, ["benchmark", str(trained_tiny_model), str(corpus), *SMALL])
    assert unknown.exit_code == 1 and "test.data" in unknown.output


def test_output_is_never_the_corpus_nor_an_existing_file_without_overwrite(trained_tiny_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Alice lives in Paris.\n", encoding="utf-8")
    itself = runner.invoke(app, ["benchmark", str(trained_tiny_model), str(text), *SMALL, "-o", str(text), "--overwrite"])
    assert itself.exit_code == 1 and "would write over the input" in itself.output
    assert text.read_text(encoding="utf-8") == "Alice lives in Paris.\n"
    existing = tmp_path / "bench.json"
    existing.write_text("kept\n", encoding="utf-8")
    refused = runner.invoke(app, ["benchmark", str(trained_tiny_model), str(text), *SMALL, "-o", str(existing)])
    assert refused.exit_code == 1 and "--overwrite" in refused.output and existing.read_text(encoding="utf-8") == "kept\n"
    replaced = runner.invoke(app, ["benchmark", str(trained_tiny_model), str(text), *SMALL, "-o", str(existing), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(existing.read_text(encoding="utf-8"))["corpus"]["sentences"] == 1
