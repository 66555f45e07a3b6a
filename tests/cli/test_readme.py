"""The README's Python examples run as written (with the model path pointed at a test model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def python_block(section: str) -> str:
    """The first ```python block under the README heading ``section``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    match = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert match, f"no python block under {section!r}"
    return match.group(1)


def test_use_with_spacy_snippet_runs(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    code = python_block("Use with spaCy")
    assert "models/quickstart" in code and "pipeline_dir" in code
    code = code.replace("models/quickstart", str(trained_tiny_model))
    monkeypatch.chdir(tmp_path)  # the snippet writes pipeline_dir/ here
    namespace: dict = {}
    exec(compile(code, "README.md (Use with spaCy)", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "('Apple'," in printed  # the tokens with their tags were printed
    loaded = namespace["nlp"]
    assert loaded.pipe_names == ["birnn_tagger"]
    doc = loaded("Apple is looking at buying U.K. startup for $1 billion.")
    assert all(token.pos_ for token in doc)
    assert (tmp_path / "pipeline_dir" / "birnn_tagger" / "model.safetensors").is_file()


def test_using_a_model_snippet_runs(trained_tiny_model: Path) -> None:
    code = python_block("Using a model").replace("models/quickstart", str(trained_tiny_model))
    namespace: dict = {}
    exec(compile(code, "README.md (Using a model)", "exec"), namespace)
    prediction = namespace["prediction"]
    assert prediction.tokens == ["Maria", "Lopez", "moved", "to", "Chicago", "."]
    assert len(prediction.tags["upos"]) == len(prediction.tokens)


def test_the_commands_table_lists_every_command_and_option() -> None:
    """The README's commands table is the one list of commands: each has a row naming each of its options
    (a row that ends its options with "..." points to a section, where the rest are named)."""
    import typer

    from tagger.cli import app

    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Commands\n"):]
    table = table[: table.index("\n\n", table.index("| command |"))]
    rows = {match.group(1): match.group(0) for match in re.finditer(r"^\| `tagger ([a-z-]+)[^|]*\|.*$", table, re.MULTILINE)}
    group = typer.main.get_command(app)
    assert set(rows) == set(group.commands) | {"--version"}  # type: ignore[attr-defined]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        where = text if "...`" in rows[name].split("|")[1] else rows[name]
        commands = [command, *getattr(command, "commands", {}).values()]  # a group (tagger init): its subcommands' options too
        options = [param.opts for each in commands for param in each.params
                   if any(flag.startswith("-") for flag in param.opts) and "--help" not in param.opts]
        missing = [opts[0] for opts in options if not any(re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", where) for flag in opts)]
        assert not missing, f"tagger {name}: {missing} not in the README"


def test_the_readme_commands_work_from_any_folder() -> None:
    """A config in a README command is a shipped config's name, a catalogue corpus or a file the README
    writes first, and a corpus a catalogue name: no path into the repository (configs/, corpora/)."""
    from tagger.data.configs import shipped_configs

    text = README.read_text(encoding="utf-8")
    commands = [line.split("#")[0] for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL) for line in block.splitlines()]
    commands = [line for line in commands if "tagger " in line]
    assert len(commands) > 20
    for line in commands:
        assert not re.search(r"(?<![\w/])(configs|corpora)/", line), line
        for config in re.findall(r"tagger (?:train|pretrain|debug-data) (\S+)", line):
            written = re.search(rf"tagger init config \S+ {re.escape(config)}(?:\s|$)", text)
            assert config in shipped_configs() or re.fullmatch(r"u(d|ner)-[a-z]+-[a-z0-9]+", config) or written, line
