"""What users tripped over: annotate reading standard input, file names that look like globs, inputs
with nothing to read, user text that rich read as markup, info as JSON, shipped configs by name and
``tagger init config``, and the README's training-from-Python example."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import tiny_config_dict
from typer.testing import CliRunner

from tagger.cli import app

runner = CliRunner()
README = Path(__file__).resolve().parents[2] / "README.md"
WIDE = {"COLUMNS": "200"}  # a table title on one line, so that it is found whole
DOCS = "Maria Lopez moved to Paris.\n\nJohn Smith works in Berlin.\n"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------------
# annotate: standard input


def test_annotate_reads_text_from_standard_input(trained_tiny_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), "-", "-o", str(output)], input=DOCS, env=WIDE)
    assert result.exit_code == 0, result.output
    assert [record["text"] for record in lines(output)] == ["Maria Lopez moved to Paris.", "John Smith works in Berlin."]
    assert "annotated standard input" in result.output
    streamed = runner.invoke(app, ["annotate", str(trained_tiny_model), "-"], input=DOCS)  # standard input to standard output
    assert streamed.exit_code == 0, streamed.output
    assert [json.loads(line) for line in streamed.stdout.splitlines()] == lines(output)


def test_annotate_reads_standard_input_in_the_format_given_with_bad_lines_listed(trained_tiny_model: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    records = '{"text": "Maria went to Paris.", "id": 7}\nnot json\n{"tokens": ["John", "is", "here"]}\n'
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), "-", "--format", "jsonl", "-o", str(output)], input=records)
    assert result.exit_code == 0, result.output
    written = lines(output)
    assert [record.get("id") for record in written] == [7, None] and written[1]["tokens"] == ["John", "is", "here"]
    assert [error["line"] for error in lines(tmp_path / "out.jsonl.errors.jsonl")] == [2]
    columns = "Maria\tPROPN\tB-PER\nwent\tVERB\tO\n\nHi\tINTJ\tO\n"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), "-", "--format", "conll", "-o", str(tmp_path / "out.conll")], input=columns)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.conll").read_text(encoding="utf-8").count("\n\n") == 2  # two sentences, their lines kept


def test_annotate_reads_standard_input_with_workers_in_input_order(trained_tiny_model: Path, tmp_path: Path) -> None:
    text = "".join(f"Document {i} was written in Paris by Maria .\n" for i in range(40))
    one = runner.invoke(app, ["annotate", str(trained_tiny_model), "-", "-o", str(tmp_path / "one.jsonl")], input=text)
    two = runner.invoke(app, ["annotate", str(trained_tiny_model), "-", "-o", str(tmp_path / "two.jsonl"), "--workers", "2", "--batch-size", "1"],
                        input=text)
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert lines(tmp_path / "one.jsonl") == lines(tmp_path / "two.jsonl") and len(lines(tmp_path / "one.jsonl")) == 40


@pytest.mark.parametrize("options, said", [
    (["--resume"], "standard input (-) cannot be read again"),
    (["--format", "spacy"], "standard input (-) is read as text, jsonl"),
    (["--engine", "ray"], "--engine ray reads shard files, not standard input"),
])
def test_annotate_refuses_what_standard_input_cannot_do(trained_tiny_model: Path, tmp_path: Path, options: list[str], said: str) -> None:
    output = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), "-", "-o", str(output), *options], input=DOCS)
    assert result.exit_code == 1
    assert said in " ".join(result.output.split())
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


# ---------------------------------------------------------------------------------------------
# annotate: what a path names


def test_a_file_named_like_a_glob_is_that_file(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("[draft]notes.txt").write_text("Maria went to Paris.\n", encoding="utf-8")
    Path("d.txt").write_text("Not this one.\n", encoding="utf-8")  # what the name would match as a glob
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), "[draft]notes.txt", "-o", "[out].jsonl"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert [record["text"] for record in lines(Path("[out].jsonl"))] == ["Maria went to Paris."]
    assert "annotated [draft]notes.txt -> [out].jsonl" in result.output  # the summary's title keeps the names


def test_a_glob_still_matches_when_no_file_has_its_name(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("a.txt", "b.txt", "c.txt"):
        Path(name).write_text(f"Document {name} .", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), "[ab].txt", "-o", "out.jsonl"])
    assert result.exit_code == 0, result.output
    assert [Path(record["file"]).name for record in lines(Path("out.jsonl"))] == ["a.txt", "b.txt"]


@pytest.mark.parametrize("make, named, said", [
    (lambda root: (root / "empty").mkdir(), "empty", "the folder holds no file to label"),
    (lambda root: (root / "hidden").mkdir() or (root / "hidden" / ".notes.txt").write_text("x"), "hidden", "the folder holds no file"),
    (lambda root: None, "nothing*.txt", "no such file, and as a glob it matches no file"),
    (lambda root: None, "missing.txt", "no such file or folder"),
])
def test_an_input_with_nothing_to_read_is_an_error_naming_it(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             make, named: str, said: str) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), named, "-o", "out.jsonl"])
    assert result.exit_code == 1
    assert f"error: {named}: {said}" in " ".join(result.output.split())
    assert sorted(tmp_path.rglob("*")) == before  # no output, errors file or .partial left behind


def test_an_empty_file_gives_an_empty_output(trained_tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(tmp_path / "empty.txt"), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.jsonl").read_text() == ""
    assert "holds nothing to label" in " ".join(result.output.split())


# ---------------------------------------------------------------------------------------------
# user text in rich output


@pytest.fixture(scope="module")
def masked_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tagger.core.config import from_dict
    from tagger.training import train

    raw = tiny_config_dict(limit=40)
    raw["masked_lm"] = {"weight": 0.5}
    raw["training"]["max_epochs"] = 1
    directory = tmp_path_factory.mktemp("masked") / "model"
    train(from_dict(raw), directory)
    return directory


def test_fill_mask_echoes_the_text_as_written(masked_model: Path) -> None:
    result = runner.invoke(app, ["fill-mask", str(masked_model), "I am [mask] hungry", "I am [MASK] hungry [draft] ."], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "no [MASK] in 'I am [mask] hungry' (a blank is written [MASK], in capitals)" in result.output
    assert "I am [MASK] hungry [draft] ." in result.stdout  # the table's title


def test_info_keeps_a_path_that_looks_like_markup(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copytree(trained_tiny_model, tmp_path / "[b]model")
    result = runner.invoke(app, ["info", "[b]model"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert result.stdout.lstrip().startswith("[b]model")


# ---------------------------------------------------------------------------------------------
# info --json


def test_info_prints_one_json_object(trained_tiny_model: Path) -> None:
    result = runner.invoke(app, ["info", str(trained_tiny_model), "--json"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    info = json.loads(result.stdout)
    assert info["name"] == trained_tiny_model.name and info["lang"] == "en"
    assert info["encoder"] == {"kind": "lstm", "num_layers": 1, "hidden_size": 24, "bidirectional": True}
    assert info["embeddings"]["word_dim"] == 16 and info["embeddings"]["words"] > 100 and info["parameters"] > 0
    upos, ner = info["tasks"]["upos"], info["tasks"]["ner"]
    assert (upos["kind"], upos["scheme"], upos["decoder"]) == ("token", None, "softmax") and "NOUN" in upos["labels"]
    assert (ner["kind"], ner["scheme"], ner["decoder"]) == ("span", "BIOES", "crf") and "S-PER" in ner["labels"]
    assert info["corpora"] == {"train": ["sample:train"], "dev": ["sample:dev"]}
    assert set(info["scores"]["dev"]) == {"upos", "ner"} and info["finished"] is True
    assert "torch" in info["versions"] and info["training"]["epochs"] == 12


# ---------------------------------------------------------------------------------------------
# shipped configs by name, tagger init config


def test_init_config_writes_a_shipped_config_to_edit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger.data.configs import load_config, shipped_configs

    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["init", "config"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "quickstart.toml"
    assert written.read_text(encoding="utf-8") == shipped_configs()["quickstart"].read_text(encoding="utf-8")
    assert load_config(written) == load_config("quickstart")
    again = runner.invoke(app, ["init", "config"])
    assert again.exit_code == 1 and "--overwrite" in again.output
    written.write_text("edited", encoding="utf-8")
    assert runner.invoke(app, ["init", "config", "--overwrite"]).exit_code == 0
    assert written.read_text(encoding="utf-8").startswith("# The quickstart")
    result = runner.invoke(app, ["init", "config", "ud-en-ewt-upos", "my.toml"])
    assert result.exit_code == 0, result.output
    assert "tagger train my.toml" in result.output and (tmp_path / "my.toml").is_file()
    (tmp_path / "sub").mkdir()
    assert runner.invoke(app, ["init", "config", "ewt-joint", "sub"]).exit_code == 0 and (tmp_path / "sub" / "ewt-joint.toml").is_file()
    printed = runner.invoke(app, ["init", "config", "quickstart", "-"])
    assert printed.exit_code == 0 and printed.stdout == shipped_configs()["quickstart"].read_text(encoding="utf-8")


def test_init_config_lists_the_shipped_configs_and_names_them_when_one_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger.data.configs import shipped_configs

    monkeypatch.chdir(tmp_path)
    listed = runner.invoke(app, ["init", "config", "--list"], env=WIDE)
    assert listed.exit_code == 0, listed.output
    for name in shipped_configs():
        assert re.search(rf"│ {re.escape(name)} +│ \S", listed.stdout), name
    assert "UPOS + NER in one small model" in listed.stdout
    unknown = runner.invoke(app, ["init", "config", "quickstrat"])
    assert unknown.exit_code == 1 and "did you mean the shipped config 'quickstart'?" in unknown.output
    assert all(name in unknown.output for name in shipped_configs()) and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["train", "debug-data", "pretrain"])
def test_a_config_that_is_nowhere_lists_the_shipped_names(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger.data.configs import shipped_configs

    monkeypatch.chdir(tmp_path)  # the README's old command, run outside the repository
    result = runner.invoke(app, [command, "configs/quickstart.toml"])
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert "configs/quickstart.toml: no such config file" in said and "did you mean the shipped config 'quickstart'?" in said
    assert all(name in said for name in shipped_configs())
    assert not (tmp_path / "models").exists()


# ---------------------------------------------------------------------------------------------
# the README's training-from-Python example


def test_the_readme_training_example_logs_one_line_per_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tagger.data.configs
    from tagger.core.config import apply_override, from_dict

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Training from Python\n"):]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)  # type: ignore[union-attr]

    def tiny(name: str, overrides: list[str] | None = None):  # the README's config, with the tiny sizes of the tests
        assert name == "quickstart"
        raw = tiny_config_dict(limit=40)
        for override in overrides or []:
            apply_override(raw, override)
        return from_dict(raw)

    monkeypatch.setattr(tagger.data.configs, "load_config", tiny)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (Training from Python)", "exec"), namespace)
    result = namespace["result"]
    log = [json.loads(line) for line in (tmp_path / "epochs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [record["epoch"] for record in log] == [record["epoch"] for record in result.epochs] == [1, 2, 3, 4, 5]
    assert all({"train_loss", "dev", "best"} <= set(record) for record in log)
    assert (tmp_path / "models" / "quickstart-5" / "model.safetensors").is_file()
