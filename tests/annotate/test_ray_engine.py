"""annotate --engine ray: shards labelled by Ray actors give exactly what the local engine writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import with_run
from typer.testing import CliRunner

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.annotate.ray import shard_plan
from tagger.cli import app
from tagger.core.errors import TaggerError
from tagger.core.runtime import RunOptions
from tagger.model.predict import Tagger

TEXTS = ["Maria Lopez moved to Chicago.", "The Red Cross sent help to Denver.", "Tabs\there and emoji 🙂 too.",
         "Anna works for Nordic Air in Oslo.", "It rained."]


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    ray = pytest.importorskip("ray", reason="the Ray engine needs the ray extra: pip install 'birnn-tagger[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


def write_shards(folder: Path, count: int = 3, bad_line_in: int | None = 1) -> list[Path]:
    """``count`` JSONL shards of 40 records each; shard ``bad_line_in`` has invalid JSON on line 5."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    for k in range(count):
        lines = [json.dumps({"id": f"{k}-{i}", "text": TEXTS[(i + k) % len(TEXTS)]}) for i in range(40)]
        if k == bad_line_in:
            lines[4] = "{not json"
        shard = folder / f"part-{k:03d}.jsonl"
        shard.write_text("\n".join(lines) + "\n", encoding="utf-8")
        shards.append(shard)
    return shards


def local(tagger: Tagger, source: Path, output: Path, batch_size: int = 4, on_progress=None, **options: object) -> Path:
    annotate_file(with_run(tagger, batch_size=batch_size), source, output, AnnotateOptions(input_format="jsonl", output_format="jsonl", **options),
                  on_progress=on_progress)
    return output


def test_ray_output_equals_the_local_engine_shard_by_shard_and_as_a_whole(
    ray_instance: None, tagger: Tagger, trained_tiny_model: Path, tmp_path: Path
) -> None:
    from tagger.annotate.ray import annotate_with_ray

    shards = write_shards(tmp_path / "in")
    results = annotate_with_ray(trained_tiny_model, tmp_path / "in", tmp_path / "out", AnnotateOptions(), run=RunOptions(batch_size=4))

    assert [r.status for r in results] == ["done"] * 3
    assert [r.done for r in results] == [40, 39, 40] and [r.failed for r in results] == [0, 1, 0]
    for shard, result in zip(shards, results):
        expected = local(tagger, shard, tmp_path / "local" / shard.name)
        assert Path(result.output) == tmp_path / "out" / shard.name
        assert Path(result.output).read_bytes() == expected.read_bytes()
    errors = (tmp_path / "out" / "part-001.jsonl.errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["line"] for line in errors] == [5]
    # The shards' outputs, in order, are the local engine's output on the whole input.
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(shard.read_bytes() for shard in shards))
    assert b"".join(Path(r.output).read_bytes() for r in results) == local(tagger, whole, tmp_path / "whole-out.jsonl").read_bytes()


def test_resume_continues_an_interrupted_shard_and_skips_finished_ones(
    ray_instance: None, tagger: Tagger, trained_tiny_model: Path, tmp_path: Path
) -> None:
    from tagger.annotate.ray import annotate_with_ray

    shards = write_shards(tmp_path / "in", bad_line_in=0)
    out = tmp_path / "out"
    out.mkdir()
    local(tagger, shards[1], out / shards[1].name)  # finished by an earlier run
    finished_before = (out / shards[1].name).stat().st_mtime_ns

    def stop_after_first_chunk(records: int, words: int) -> None:
        raise Interrupt

    with pytest.raises(Interrupt):  # shard 0 stops after its first chunk (16 records at batch size 1)
        local(tagger, shards[0], out / shards[0].name, batch_size=1, on_progress=stop_after_first_chunk)
    results = annotate_with_ray(trained_tiny_model, tmp_path / "in", out, AnnotateOptions(resume=True), run=RunOptions(batch_size=4))

    assert [r.status for r in results] == ["done", "skipped", "done"]
    assert [r.resumed for r in results] == [16, 0, 0] and results[0].done + results[0].failed == 40
    assert (out / shards[1].name).stat().st_mtime_ns == finished_before
    for shard in shards:
        assert (out / shard.name).read_bytes() == local(tagger, shard, tmp_path / "local" / shard.name).read_bytes()
    assert not list(out.glob("*.partial*"))


def test_a_resume_with_other_tasks_or_scores_is_refused_before_a_shard_is_skipped(
    ray_instance: None, trained_tiny_model: Path, tmp_path: Path
) -> None:
    from tagger.annotate.ray import annotate_with_ray

    write_shards(tmp_path / "in", bad_line_in=0)
    out = tmp_path / "out"
    annotate_with_ray(trained_tiny_model, tmp_path / "in", out, AnnotateOptions(tasks=("ner",)), run=RunOptions(batch_size=4))
    written = {path: path.read_bytes() for path in out.glob("*.jsonl")}
    for changed in (AnnotateOptions(tasks=("upos",), resume=True), AnnotateOptions(tasks=("ner",), scores=True, resume=True)):
        with pytest.raises(TaggerError, match="cannot resume"):
            annotate_with_ray(trained_tiny_model, tmp_path / "in", out, changed)
    results = annotate_with_ray(trained_tiny_model, tmp_path / "in", out, AnnotateOptions(tasks=("ner",), resume=True), run=RunOptions(batch_size=4))
    assert {r.status for r in results} == {"skipped"}
    assert {path: path.read_bytes() for path in out.glob("*.jsonl")} == written


def test_strict_stops_the_bad_shard_only_and_the_cli_says_so(ray_instance: None, trained_tiny_model: Path, tmp_path: Path) -> None:
    write_shards(tmp_path / "in")
    result = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "--engine", "ray", "--strict", "--batch-size", "4"])

    assert result.exit_code == 1, result.output
    assert "part-001.jsonl:5" in result.output and "invalid JSON" in result.output
    assert "--resume" in result.output
    assert (tmp_path / "out" / "part-000.jsonl").is_file() and (tmp_path / "out" / "part-002.jsonl").is_file()
    assert not (tmp_path / "out" / "part-001.jsonl").exists()  # its partial output stays for --resume
    assert (tmp_path / "out" / "part-001.jsonl.partial").exists()


def test_shard_plan_names_outputs_after_inputs(tmp_path: Path) -> None:
    (tmp_path / "in" / "a").mkdir(parents=True)
    (tmp_path / "in" / "a" / "x.jsonl").write_text("{}\n")
    (tmp_path / "in" / "y.txt").write_text("Hi\n")

    plan = shard_plan(tmp_path / "in", tmp_path / "out", "conllu")

    assert plan == [(tmp_path / "in" / "a" / "x.jsonl", tmp_path / "out" / "a" / "x.conllu"),
                    (tmp_path / "in" / "y.txt", tmp_path / "out" / "y.conllu")]
    assert shard_plan(tmp_path / "in" / "y.txt", tmp_path / "out", "jsonl") == [(tmp_path / "in" / "y.txt", tmp_path / "out" / "y.jsonl")]


def test_shard_plan_refuses_two_inputs_for_one_output_and_an_empty_input(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.jsonl").write_text("{}\n")
    (tmp_path / "in" / "x.txt").write_text("Hi\n")

    with pytest.raises(TaggerError, match="both be written to"):
        shard_plan(tmp_path / "in", tmp_path / "out", "jsonl")
    with pytest.raises(TaggerError, match="no input shards"):
        shard_plan(tmp_path / "missing", tmp_path / "out", "jsonl")


def test_actors_load_the_model_at_the_precision_asked(ray_instance: None, trained_tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="int8 needs the onnx extra: pip install 'birnn-tagger[onnx]'")
    from tagger.annotate.ray import annotate_with_ray

    shards = write_shards(tmp_path / "in", count=1, bad_line_in=None)
    refused = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--engine", "ray",
                                       "--precision", "int4"])
    assert refused.exit_code == 2 and "'int4' is not one of" in refused.output and not (tmp_path / "out").exists()
    [result] = annotate_with_ray(trained_tiny_model, tmp_path / "in", tmp_path / "out", AnnotateOptions(), run=RunOptions(batch_size=4, precision="int8-all"))
    int8 = Tagger.load(trained_tiny_model, precision="int8-all")
    assert Path(result.output).read_bytes() == local(int8, shards[0], tmp_path / "local.jsonl").read_bytes()
