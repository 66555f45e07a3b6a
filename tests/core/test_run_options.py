"""How a model runs is one checked value (RunOptions): every front end refuses the same bad value with
the same words, and settings classes check their fields when made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.errors import ConfigError
from tagger.core.runtime import RunOptions

# (field, flag, bad value, the words every front end says)
BAD = [
    ("precision", "--precision", "fp16", "'fp16' is not one of 'fp32', 'int8', 'int8-all'"),
    ("threads", "--threads", "-1", "must be in [0, 1024], got -1"),
    ("threads", "--threads", "5000", "must be in [0, 1024], got 5000"),
    ("batch_size", "--batch-size", "0", "must be at least 1, got 0"),
]


def _value(field: str, text: str) -> object:
    return int(text) if field in ("threads", "batch_size") else text


@pytest.mark.parametrize(("field", "flag", "bad", "words"), BAD, ids=[f"{b[0]}={b[2]}" for b in BAD])
def test_every_front_end_refuses_a_bad_run_option_in_the_same_words(trained_tiny_model: Path, tmp_path: Path, field: str, flag: str,
                                                                    bad: str, words: str) -> None:
    import spacy

    from tagger import Tagger
    from tagger.service.app import create_app
    from tagger.service.settings import ServiceSettings

    value = _value(field, bad)
    for make in (lambda: RunOptions(**{field: value}), lambda: Tagger.load(trained_tiny_model, **{field: value}),
                 lambda: create_app(trained_tiny_model, ServiceSettings(run=RunOptions(**{field: value})), token="")):
        with pytest.raises(ConfigError) as error:
            make()
        assert str(error.value) == f"{field}: {words}" and error.value.reason == words
    if field != "batch_size":  # the component's batch_size is spaCy's: Docs per batch
        with pytest.raises(ConfigError, match=f"{field}: {words}".replace("[", r"\[").replace("(", r"\(")):
            spacy.blank("en").add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), field: value})
    source = tmp_path / "in.txt"
    source.write_text("Anna smiled .\n", encoding="utf-8")
    commands = [["annotate", str(trained_tiny_model), str(source), "-o", str(tmp_path / "out.jsonl")],
                ["evaluate", str(trained_tiny_model), "sample:test"], ["serve", str(trained_tiny_model)]]
    if field != "batch_size":
        commands.append(["fill-mask", str(trained_tiny_model), "a [MASK] b"])
    for command in commands:
        result = CliRunner().invoke(app, [*command, flag, bad], env={"COLUMNS": "300"})
        assert result.exit_code == 2 and f"Invalid value for '{flag}': {words}" in result.output, (command, result.output)
    served = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--model", str(trained_tiny_model), flag, bad],
                            capture_output=True, text=True, timeout=60)
    assert served.returncode == 2 and f"argument {flag}: {words}" in served.stderr, served.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_a_sweep_checks_its_values_as_a_run_does(trained_tiny_model: Path) -> None:
    for flag, values, words in (("--precisions", "fp32,fp16", BAD[0][3]), ("--batch-sizes", "8,0", BAD[3][3])):
        result = CliRunner().invoke(app, ["benchmark", str(trained_tiny_model), flag, values], env={"COLUMNS": "300"})
        assert result.exit_code == 1 and f"{flag}: {words}" in result.output, result.output


def test_int8_runs_on_the_cpu_only_and_a_device_is_checked_where_it_is_named(trained_tiny_model: Path) -> None:
    import torch

    with pytest.raises(ConfigError, match=r"precision: int8 runs on the CPU only \(ONNX Runtime\): use device cpu, not 'auto'"):
        RunOptions(device="auto", precision="int8")
    with pytest.raises(ConfigError, match="device: 'gpu' is not \"auto\""):
        RunOptions(device="gpu")
    if not torch.cuda.is_available():
        result = CliRunner().invoke(app, ["evaluate", str(trained_tiny_model), "sample:test", "--device", "cuda"])
        assert result.exit_code == 1 and "device: 'cuda', but this machine has no CUDA" in result.output


def test_settings_check_their_fields_when_made(trained_tiny_model: Path) -> None:
    from tagger.annotate import AnnotateOptions
    from tagger.service.app import create_app
    from tagger.service.settings import ServiceSettings

    with pytest.raises(ConfigError, match="max_texts: must be at least 1, got 0"):
        create_app(trained_tiny_model, max_texts=0, token="")  # checked by the library, not only by the command lines
    with pytest.raises(ConfigError, match="max_queued: must be at least 1, got 0"):
        ServiceSettings(max_queued=0)
    with pytest.raises(ConfigError, match="workers: must be in"):
        AnnotateOptions(workers=0)
    assert AnnotateOptions(tasks=["ner"]).tasks == ("ner",)


def test_the_run_options_a_model_was_loaded_with_are_its_defaults(trained_tiny_model: Path) -> None:
    from tagger import Tagger

    tagger = Tagger.load(trained_tiny_model, batch_size=3)
    assert tagger.run == RunOptions(batch_size=3)
    assert Tagger.load(trained_tiny_model, RunOptions(batch_size=5)).run.batch_size == 5
    with pytest.raises(TypeError, match="unknown run option 'batch'"):
        Tagger.load(trained_tiny_model, batch=3)
    texts = ["Anna smiled .", "Maria Lopez moved to Chicago .", "Hi"]
    assert tagger.predict(texts) == Tagger.load(trained_tiny_model).predict(texts, batch_size=1)  # labels do not depend on it
