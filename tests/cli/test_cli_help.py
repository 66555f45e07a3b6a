"""The command line's help and version: every help text prints as written, placeholders read as words."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

import tagger
from tagger.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}  # one line per option, so a help text is found whole


def commands() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_version_names_the_package_and_what_it_runs_on() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(" ", 1) for line in result.output.splitlines())
    assert lines["birnn-tagger"] == tagger.__version__
    assert {"torch", "spacy", "python"} <= set(lines)


@pytest.mark.parametrize("command", commands())
def test_help_prints_every_help_text_as_written(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    for param in click_command.params:
        if param.help:
            # rich would swallow "[onnx]" in "birnn-tagger[onnx]" if the text were read as markup
            assert " ".join(param.help.replace("\\[", "[").split()) in shown, (command, param.name)
    assert not re.search(r"<(bool|str|int|path|float|list)[^>]*>", shown), shown
    assert not re.search(r"\{[a-z_]+\}", shown), shown  # arguments read MODEL, not {model}


def test_help_shows_the_extras_to_install() -> None:
    result = runner.invoke(app, ["annotate", "--help"], env=WIDE)
    assert "pip install 'birnn-tagger[ray]'" in result.output
    assert "pip install 'birnn-tagger[onnx]'" in result.output
    assert "annotate [OPTIONS] MODEL INPUT" in " ".join(result.output.split())
