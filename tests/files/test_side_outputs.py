"""Every file a command writes is an output (errors files, reports, pipelines, benchmark JSON): never the
input, a model's file or another output, never replaced without --overwrite, locked for the run; and a
write that fails (a full disk) is one clear line that keeps what was written before."""

from __future__ import annotations

import builtins
import errno
import shutil
from pathlib import Path

import pytest
from conftest import with_run
from typer.testing import CliRunner

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.cli import app
from tagger.core.errors import WriteFailed
from tagger.files.locking import OutputLocked, hold
from tagger.model.predict import Tagger

runner = CliRunner()
TEXT = "".join(f"Maria Lopez number {i} moved to Chicago.\n" for i in range(40)).encode() + b"\xff not UTF-8\n" + b"Anna smiled.\n"


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(f'{{"text": "Anna number {i} moved to Oslo."}}\n' for i in range(30)) + "{not json\n", encoding="utf-8")
    return path


def annotate(model: Path, source: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["annotate", str(model), str(source), *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output.replace("\n", "")


def test_an_existing_errors_file_is_kept_unless_overwrite(trained_tiny_model: Path, source: Path, tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("precious\n", encoding="utf-8")
    code, said = annotate(trained_tiny_model, source, "-o", str(tmp_path / "out.jsonl"), "--errors", str(precious))
    assert code == 1 and "--errors" in said and "--overwrite" in said
    assert precious.read_text(encoding="utf-8") == "precious\n" and not (tmp_path / "out.jsonl").exists()
    code, said = annotate(trained_tiny_model, source, "-o", str(tmp_path / "out.jsonl"), "--errors", str(precious), "--overwrite")
    assert code == 0 and '"line": 31' in precious.read_text(encoding="utf-8")


def test_an_errors_file_is_never_a_model_file_the_input_or_the_output(trained_tiny_model: Path, source: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(trained_tiny_model, model)
    meta = (model / "meta.json").read_bytes()
    code, said = annotate(model, source, "-o", str(tmp_path / "a.jsonl"), "--errors", str(model / "meta.json"), "--overwrite")
    assert code == 1 and "inside the model directory" in said and (model / "meta.json").read_bytes() == meta
    code, said = annotate(model, source, "-o", str(tmp_path / "b.jsonl"), "--errors", str(source), "--overwrite")
    assert code == 1 and "would write over the input" in said
    code, said = annotate(model, source, "-o", str(tmp_path / "c.jsonl"), "--errors", str(tmp_path / "c.jsonl"))
    assert code == 1 and "is also --errors" in said
    assert not list(tmp_path.glob("[abc].jsonl*"))


def test_outputs_of_two_formats_have_their_own_errors_files(trained_tiny_model: Path, source: Path, tmp_path: Path) -> None:
    for name in ("r.jsonl", "r.html"):
        code, said = annotate(trained_tiny_model, source, "-o", str(tmp_path / name))
        assert code == 0, said
    assert (tmp_path / "r.jsonl.errors.jsonl").is_file() and (tmp_path / "r.html.errors.jsonl").is_file()


def test_a_run_writing_the_same_errors_file_is_refused(tagger: Tagger, source: Path, tmp_path: Path) -> None:
    errors = tmp_path / "shared.errors.jsonl"
    with hold(errors), pytest.raises(OutputLocked, match="shared.errors.jsonl is being written by another run"):
        annotate_file(tagger, source, tmp_path / "two.jsonl", AnnotateOptions(errors_path=errors))
    assert not (tmp_path / "two.jsonl").exists() and not (tmp_path / "two.jsonl.partial").exists()


def test_evaluate_and_export_never_write_into_a_model_or_over_a_report(trained_tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(trained_tiny_model, model)
    files = sorted(path.name for path in model.iterdir())
    result = runner.invoke(app, ["evaluate", str(model), "sample:test", "--report", str(model / "report")])
    assert result.exit_code == 1 and "inside the model directory" in result.output
    result = runner.invoke(app, ["export-spacy", str(model), str(model), "--overwrite"])
    assert result.exit_code == 1 and "inside the model directory" in result.output
    result = runner.invoke(app, ["export-spacy", str(model), str(tmp_path), "--overwrite"])  # the folder holding the model
    assert result.exit_code == 1 and "would write over the input" in result.output
    assert sorted(path.name for path in model.iterdir()) == files
    report = tmp_path / "report"
    report.mkdir()
    (report / "mine.md").write_text("kept\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(model), "sample:test", "--report", str(report)])
    assert result.exit_code == 1 and "--report" in result.output and "not empty" in result.output
    assert [path.name for path in report.iterdir()] == ["mine.md"]


def full_disk_after(monkeypatch: pytest.MonkeyPatch, allowed_writes: int, target: str) -> None:
    """Writes to the file whose path ends with ``target`` fail with ENOSPC after ``allowed_writes`` of them."""
    real_open = builtins.open
    count = [0]

    class FullFile:
        def __init__(self, handle: object) -> None:
            self._handle = handle

        def write(self, data: object) -> int:
            count[0] += 1
            if count[0] > allowed_writes:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self._handle.write(data)  # type: ignore[attr-defined]

        def __getattr__(self, name: str) -> object:
            return getattr(self._handle, name)

        def __enter__(self) -> FullFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()  # type: ignore[attr-defined]

    def opening(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_open(file, mode, *args, **kwargs)
        return FullFile(handle) if str(file).endswith(target) and any(m in mode for m in "wa") else handle

    monkeypatch.setattr(Path, "open", lambda self, mode="r", *args, **kwargs: opening(self, mode, *args, **kwargs))


def test_annotate_on_a_full_disk_says_so_and_resumes_where_it_stopped(tagger: Tagger, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(TEXT)
    options = AnnotateOptions(input_format="text", output_format="jsonl")
    tagger = with_run(tagger, batch_size=1)
    annotate_file(tagger, source, tmp_path / "ref.jsonl", options)
    with monkeypatch.context() as patched:
        full_disk_after(patched, 20, "out.jsonl.partial")
        with pytest.raises(WriteFailed, match=r"cannot write .*out.jsonl.partial: No space left on device. The 16 records done before are kept"):
            annotate_file(tagger, source, tmp_path / "out.jsonl", options)
    assert not (tmp_path / "out.jsonl").exists()
    annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="text", output_format="jsonl", resume=True))
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert (tmp_path / "out.jsonl.errors.jsonl").read_bytes() == (tmp_path / "ref.jsonl.errors.jsonl").read_bytes()


def test_the_cli_shows_a_failed_write_as_one_line(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(TEXT)
    full_disk_after(monkeypatch, 0, "out.jsonl.partial")
    result = runner.invoke(app, ["annotate", str(trained_tiny_model), str(source), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "No space left on device" in result.output and "--resume" in result.output
    assert isinstance(result.exception, SystemExit)


def test_an_errors_file_is_never_a_working_file_of_the_output(trained_tiny_model: Path, source: Path, tmp_path: Path) -> None:
    for errors in ("out.jsonl.partial", "out.jsonl.partial.progress", "out.jsonl.lock"):
        code, said = annotate(trained_tiny_model, source, "-o", str(tmp_path / "out.jsonl"), "--errors", str(tmp_path / errors))
        assert code == 1 and "is also" in said and "of --output" in said, said
    assert not (tmp_path / "out.jsonl").exists()


def test_overwrite_replaces_only_a_folder_the_command_wrote(trained_tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = tmp_path / "report"
    assert runner.invoke(app, ["evaluate", str(trained_tiny_model), "sample:test", "--report", str(report)]).exit_code == 0
    again = runner.invoke(app, ["evaluate", str(trained_tiny_model), "sample:test", "--report", str(report), "--overwrite"])
    assert again.exit_code == 0 and (report / "scores.json").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("kept\n", encoding="utf-8")
    for command in (["evaluate", str(trained_tiny_model), "sample:test", "--report", str(mine)], ["export-spacy", str(trained_tiny_model), str(mine)]):
        result = runner.invoke(app, [*command, "--overwrite"])
        assert result.exit_code == 1 and "did not write" in result.output, result.output
    assert [path.name for path in mine.iterdir()] == ["notes.txt"]
    monkeypatch.chdir(mine)
    result = runner.invoke(app, ["evaluate", str(trained_tiny_model), "sample:test", "--report", ".", "--overwrite"])
    assert result.exit_code == 1 and "is the current folder" in result.output


def test_a_failed_write_names_the_file_not_its_temporary_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger.core.errors import writing
    from tagger.files.atomic import write_atomic

    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(WriteFailed, match=r"cannot write .*/pred\.jsonl: No space left on device\. Kept\."):
        with writing(tmp_path / "pred.jsonl", "Kept."):
            write_atomic(tmp_path / "pred.jsonl", b"{}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_resume_of_a_run_begun_with_the_earlier_errors_name_continues_it(tagger: Tagger, tmp_path: Path) -> None:
    from tagger.annotate.loop import default_errors_path

    output = tmp_path / "out.jsonl"
    assert default_errors_path(output, resume=True) == tmp_path / "out.jsonl.errors.jsonl"
    (tmp_path / "out.jsonl.partial.progress").write_text("{}", encoding="utf-8")
    (tmp_path / "out.errors.jsonl.partial").write_text("", encoding="utf-8")
    assert default_errors_path(output, resume=True) == tmp_path / "out.errors.jsonl"
    assert default_errors_path(output, resume=False) == tmp_path / "out.jsonl.errors.jsonl"
