"""tagger train --seeds: one model per seed, a table with mean ± sd, the best-dev seed as the model."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from conftest import SAMPLE, TINY_CONFIG
from typer.testing import CliRunner

from tagger import Tagger
from tagger.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("seeds")
    config = root / "tiny.toml"
    config.write_text(TINY_CONFIG.format(train=SAMPLE / "train.conll", dev=SAMPLE / "dev.conll")
                      + f'\n[data.test]\npath = "{SAMPLE / "test.conll"}"\ncolumns = {{ upos = 1, ner = 2 }}\n')
    result = runner.invoke(app, ["train", str(config), "-o", str(root / "model"), "--seeds", "3,4,5",
                                 "--set", "training.max_epochs=2", "--set", "data.max_train_sentences=40"],
                           env={"COLUMNS": "200"})  # the table's width
    assert result.exit_code == 0, result.output
    return config, root / "model", result.output


def test_each_seed_is_a_model_and_the_best_by_dev_is_the_model(seeded: tuple[Path, Path, str]) -> None:
    _, model, output = seeded
    summary = json.loads((model / "seeds.json").read_text())
    runs = {run["seed"]: run for run in summary["runs"]}
    assert sorted(runs) == [3, 4, 5]
    for seed in runs:
        config = json.loads((model / f"seed-{seed}" / "config.json").read_text())
        assert config["seed"] == seed
    assert len({json.dumps(run["dev"]) for run in runs.values()}) > 1  # different seeds, different models
    best = max(runs.values(), key=lambda r: r["dev_main"])
    assert summary["chosen"] == best["seed"]
    assert (model / "model.safetensors").read_bytes() == (model / f"seed-{best['seed']}" / "model.safetensors").read_bytes()
    meta = json.loads((model / "meta.json").read_text())
    assert meta["seeds"]["chosen"] == best["seed"] and Tagger.load(model).predict("Maria went home .").tokens
    for split in ("dev", "test"):
        for task in ("upos", "ner"):
            values = [run[split][task] for run in runs.values()]
            assert summary["summary"][split][task]["mean"] == pytest.approx(statistics.fmean(values))
            assert summary["summary"][split][task]["sd"] == pytest.approx(statistics.stdev(values))
    assert "mean ± sd" in output and "3 seeds" in output


def test_resume_keeps_finished_seeds_and_trains_new_ones(seeded: tuple[Path, Path, str]) -> None:
    config, model, _ = seeded
    before = {seed: (model / f"seed-{seed}" / "model.safetensors").stat().st_mtime_ns for seed in (3, 4, 5)}
    result = runner.invoke(app, ["train", str(config), "-o", str(model), "--seeds", "3,4,5,6", "--resume",
                                 "--set", "training.max_epochs=2", "--set", "data.max_train_sentences=40"])
    assert result.exit_code == 0, result.output
    assert result.output.count("not trained again") == 3
    assert {seed: (model / f"seed-{seed}" / "model.safetensors").stat().st_mtime_ns for seed in (3, 4, 5)} == before
    assert [run["seed"] for run in json.loads((model / "seeds.json").read_text())["runs"]] == [3, 4, 5, 6]
    info = runner.invoke(app, ["info", str(model)])
    assert info.exit_code == 0 and "over seeds" in info.output


@pytest.mark.parametrize("seeds", ["13,x", "13,13", ","])
def test_bad_seed_lists_are_refused(seeds: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(tmp_path / "none.toml"), "--seeds", seeds])
    assert result.exit_code == 2 and "--seeds" in result.output
