"""The README's Python examples run as written (with the model path pointed at a test model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


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
