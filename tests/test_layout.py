"""The seams of the one data path: task kinds decided by TaskSpec, what Tagger shows front ends,
training that leaves its config alone and scores each epoch once, the CLI as a package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_config_dict

from tagger.core.config import TaskConfig, from_dict
from tagger.core.tasks import TaskSpec, task_specs
from tagger.model.predict import Tagger


def test_a_task_is_a_span_task_exactly_when_its_config_names_a_scheme() -> None:
    ner = TaskSpec.of("ner", TaskConfig(decoder="crf", scheme="BIOES"), ["O", "B-PER", "E-PER", "S-LOC"])
    upos = TaskSpec.of("upos", TaskConfig(), ["NOUN", "VERB"])
    assert (ner.kind, ner.is_span, ner.scheme, ner.decoder) == ("span", True, "BIOES", "crf")
    assert (upos.kind, upos.is_span, upos.scheme) == ("token", False, None)
    assert ner.span_labels == ("LOC", "PER") and upos.span_labels == ("NOUN", "VERB")
    assert ner.to_bio(["B-PER", "E-PER", "S-LOC", "O"]) == ["B-PER", "I-PER", "B-LOC", "O"]
    assert upos.to_bio(["NOUN"]) == ["NOUN"]
    assert (ner.label_of("E-PER"), ner.label_of("O"), upos.label_of("NOUN")) == ("PER", "", "NOUN")
    assert list(task_specs({"upos": TaskConfig(), "ner": TaskConfig(scheme="BIO")})) == ["upos", "ner"]


def test_a_tagger_names_its_tasks_and_says_what_each_is(trained_tiny_model: Path) -> None:
    tagger = Tagger.load(trained_tiny_model)
    assert tagger.tasks == ["upos", "ner"]  # a list of names, as always
    assert [spec.kind for spec in tagger.task_specs.values()] == ["token", "span"]
    assert tagger.task_specs["ner"].labels == tuple(tagger.vocab.labels["ner"].items)
    assert not tagger.has_masked_lm and tagger.precision == "fp32" and tagger.finished
    assert tagger.info.name == trained_tiny_model.name and tagger.meta is tagger.info.meta


def test_training_leaves_its_config_alone_and_scores_the_best_epoch_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tagger.training.loop as loop
    from tagger.training import train

    words = ["maria", "paris", "the", "saw", ".", "in"]
    vectors = np.random.default_rng(0).standard_normal((len(words), 6)).round(4)
    (tmp_path / "v.txt").write_text("".join(f"{w} {' '.join(map(str, row))}\n" for w, row in zip(words, vectors)), encoding="utf-8")
    raw = tiny_config_dict(limit=40)
    raw["data"]["test"] = "sample:test"
    raw["training"]["max_epochs"] = 3
    raw["embeddings"] = {**raw["embeddings"], "word_dim": 0, "pretrained": str(tmp_path / "v.txt")}
    config = from_dict(raw)
    before = config.to_dict()
    calls: list[int] = []
    scored = loop.evaluate

    def counted(tagger: Tagger, sentences: list, *args: object) -> dict:
        calls.append(len(sentences))
        return scored(tagger, sentences, *args)

    monkeypatch.setattr(loop, "evaluate", counted)
    result = train(config, tmp_path / "model")
    assert config.to_dict() == before  # word_dim 0 still: the vectors' size went into the model's own config
    assert from_dict(json.loads((tmp_path / "model" / "config.json").read_text())).embeddings.word_dim == 6
    assert len(calls) == 3 + 1  # dev after each epoch, test once at the end; the best epoch's dev is not scored again
    best = result.epochs[result.best_epoch - 1]["dev"]
    assert {task: scores.to_dict() for task, scores in result.dev_scores.items()} == best
    assert result.dev_scores["upos"].per_label  # the per-label rows of a token task too


def test_the_command_line_runs_as_a_module() -> None:
    done = subprocess.run([sys.executable, "-m", "tagger.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "annotate" in done.stdout and "evaluate" in done.stdout


# --- the layers ---------------------------------------------------------------------------------
# Each folder of the package is a layer; a module imports only from its own folder and from layers
# below it (siblings on one level do not import each other). The README's "Layout" section draws
# the same table.
LAYERS = [
    ("tagger.corpora", "tagger.configs"),  # data only: the catalogue's files, the shipped configs
    ("tagger.core",),  # the one data path's types and checks: errors, types, config, tasks, vocab, tokenize, batching, runtime
    ("tagger.files",),  # files written whole, locks, outputs
    ("tagger.data", "tagger.nn"),  # formats, readers, writers, catalogue | the network
    ("tagger.model",),  # the model directory and the predictor (Tagger)
    ("tagger.analysis",),  # evaluation, reports, plots, benchmark
    ("tagger.training",),
    ("tagger.annotate", "tagger.spacy", "tagger.service"),  # the front ends' libraries
    ("tagger.cli",),
    ("tagger",),  # the package's own __init__: the public names
]
ROOT = Path(__file__).resolve().parents[1]


def _room(module: str) -> str:
    """The layer folder ``module`` lives in (``tagger`` for the package itself)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and parts[1] not in ("__init__", "__main__") else "tagger"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the package in ``path``: at the top, in functions, or for type checking only."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}:{node.lineno}: a relative import (the check reads absolute ones)"
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tagger":
            modules = [node.module] if node.module != "tagger" else [f"tagger.{alias.name}" for alias in node.names]
            found.extend((node.lineno, module) for module in modules)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "tagger")
    return found


def test_imports_only_run_down_the_layers() -> None:
    level = {room: number for number, rooms in enumerate(LAYERS) for room in rooms}
    upward, seen = [], 0
    for path in sorted((ROOT / "tagger").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        here = _room(module)
        assert here in level, f"{path}: its folder is in no layer of LAYERS"
        for line, imported in _imports(path):
            seen += 1
            there = _room(imported) if imported != "tagger" else "tagger"
            if there != here and level.get(there, len(LAYERS)) >= level[here]:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {imported} ({there})")
    assert seen > 300, "the scan found too few imports to have looked"
    assert not upward, "imports that run up (or across) the layers:\n" + "\n".join(upward)


def test_the_layers_are_the_packages_the_project_installs_and_the_readme_draws() -> None:
    import tomllib

    folders = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "tagger").rglob("__init__.py")}
    installed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    assert installed == folders | {"tagger.corpora", "tagger.configs"}
    layered = {room for rooms in LAYERS for room in rooms}
    assert {_room(folder + ".x") for folder in folders if folder != "tagger"} <= layered
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):].split("\n## ")[0]
    for room in layered - {"tagger", "tagger.corpora", "tagger.configs"}:
        assert f"tagger/{room.split('.')[1]}/" in layout, f"the README's layout section does not name {room}"
    for folder in sorted(ROOT.joinpath("tagger").iterdir()):
        if folder.is_dir() and (folder / "__init__.py").is_file():
            assert f"tagger/{folder.name}/" in layout, f"the README's layout section does not name tagger/{folder.name}/"
