"""``tagger annotate --engine ray``: the same annotation over many shards, on a Ray cluster.

The unit of work is a shard (one input file). Ray Data's ``map_batches`` hands the shards to a
pool of actors, each holding the model once; an actor labels a shard with
:func:`tagger.annotate.annotate_file`, so each output shard has the local engine's guarantees:
written to ``.partial`` and renamed when done, bad records in its own errors file, and
``resume`` continuing an interrupted shard. Shards already finished are skipped on ``resume``.

Every node must have birnn-tagger installed, and the input, output and model paths must be the
same on every node (a shared file system).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.annotate.resumable import labelling_identity, partial_files
from tagger.core.errors import TaggerError
from tagger.core.runtime import RunOptions
from tagger.data.formats import SUFFIX_OF_FORMAT
from tagger.files.paths import input_files

RUN_FILE = ".birnn-tagger-run.json"  # what the run that writes an output folder is (record_run)


@dataclass
class ShardResult:
    """One shard's outcome (plain fields, so that Ray keeps them as Arrow columns)."""

    input: str
    output: str
    status: str = "done"  # "done", "skipped" (finished by an earlier run) or "stopped" (see error)
    done: int = 0
    failed: int = 0
    resumed: int = 0
    seconds: float = 0.0
    errors_path: str = ""  # where its bad records went ("" when there were none)
    error: str = ""  # why it stopped; it can be resumed once the cause is fixed


def shard_plan(input_path: str | Path, output_dir: str | Path, output_format: str) -> list[tuple[Path, Path]]:
    """(input shard, output shard) pairs: a folder's or glob's files, or one file, each named after its input."""
    files = input_files(input_path)
    if files is None:
        files = [Path(input_path)] if Path(input_path).is_file() else []
    if not files:
        raise TaggerError(f"{input_path}: no input shards found")
    root = Path(input_path) if Path(input_path).is_dir() else Path(os.path.commonpath([f.parent for f in files]))
    outputs = [Path(output_dir) / file.relative_to(root).with_suffix(SUFFIX_OF_FORMAT[output_format]) for file in files]
    seen: dict[Path, Path] = {}
    for file, output in zip(files, outputs):
        if output in seen:
            raise TaggerError(f"{seen[output]} and {file} would both be written to {output}; rename one")
        seen[output] = file
    return list(zip(files, outputs))


def record_run(output_dir: Path, identity: dict[str, Any], options: AnnotateOptions, outputs: list[Path]) -> None:
    """Keep what this run is in ``output_dir/RUN_FILE``. A resume skips the shards an earlier run
    finished, so it must be the same run: one that differs (another model, precision, --tasks,
    --scores or output format) is refused, naming what changed. A run that will be refused its
    existing shards (no --resume or --overwrite) leaves the record of the run that wrote them."""
    import json

    from tagger.core.config import changed_keys
    from tagger.files.atomic import write_atomic

    path = output_dir / RUN_FILE
    if not options.resume and not options.overwrite and any(output.exists() for output in outputs):
        return
    if options.resume and path.is_file():
        changed = [f"{key}: {old!r} -> {new!r}" for key, old, new in changed_keys(json.loads(path.read_text(encoding="utf-8")), identity)]
        if changed:
            raise TaggerError(f"cannot resume {output_dir}: this run differs from the one that wrote its shards ({'; '.join(changed)}); "
                              "rerun without --resume and with --overwrite to start again")
    write_atomic(path, json.dumps(identity, indent=2) + "\n")


class ShardAnnotator:
    """A Ray actor: loads the model once, then labels whole shards (a batch is a few shard paths)."""

    def __init__(self, model_dir: str, run: RunOptions, options: AnnotateOptions, digests: dict[str, str]) -> None:
        from tagger.model.predict import Tagger

        self.tagger = Tagger.load(model_dir, run)
        self.options = options
        # ``digests``: the model's files as the run recorded them; a directory replaced since labels nothing
        changed = self.tagger.info.meta.get("sha256", {}) != digests
        self.changed = f"{model_dir} changed after the run began (its files' sha256 differ from those recorded): rerun" if changed else ""

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        results = [self._shard(source, target) for source, target in zip(batch["input"], batch["output"])]
        return {name: [getattr(result, name) for result in results] for name in ShardResult.__dataclass_fields__}

    def _shard(self, source: str, target: str) -> ShardResult:
        if self.options.resume and Path(target).is_file() and not partial_files(Path(target))[0].exists():
            return ShardResult(source, target, status="skipped")
        if self.changed:
            return ShardResult(source, target, status="stopped", error=self.changed)
        try:
            summary = annotate_file(self.tagger, source, target, self.options)
        except TaggerError as error:
            return ShardResult(source, target, status="stopped", error=str(error))
        return ShardResult(source, target, done=summary.done, failed=summary.failed, resumed=summary.resumed,
                           seconds=summary.seconds, errors_path=str(summary.errors_path or ""))


def annotate_with_ray(
    model_dir: str | Path,
    input_path: str | Path,
    output_dir: str | Path,
    options: AnnotateOptions = AnnotateOptions(),
    *,
    actors: int | None = None,
    cpus_per_actor: int = 1,
    address: str | None = None,
    run: RunOptions = RunOptions(),
) -> list[ShardResult]:
    """Label every shard of ``input_path`` into ``output_dir`` on Ray; one result per shard, in input order.

    ``options`` as for :func:`tagger.annotate.annotate_file` (each shard's format from its extension
    unless ``input_format`` is given; output JSONL unless ``output_format`` is given; ``workers`` and
    ``errors_path`` do not apply: each shard has its own errors file). ``address`` is a running
    cluster's (``"auto"`` finds the local node's); None starts a local Ray instance unless one is
    already up in this process. ``actors`` defaults to as many as the cluster's CPUs allow, at most
    one per shard; each gets ``cpus_per_actor`` CPUs and as many torch threads. ``run`` is how each
    actor loads the model (see ``Tagger.load``); ``run.threads`` 0 gives each actor as many torch threads as its CPUs.
    """
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise TaggerError("the Ray engine needs Ray: pip install 'birnn-tagger[ray]'") from error
    output_format = options.output_format or "jsonl"
    options.check_output_format(output_format)
    options = replace(options, output_format=output_format, workers=1, errors_path=None)
    run = replace(run, threads=run.threads or cpus_per_actor)
    from tagger.model.serialize import describe

    model = describe(model_dir)
    options.check_model(model)
    plan = shard_plan(input_path, output_dir, output_format)
    record_run(Path(output_dir), labelling_identity(model, run.precision, options, options.input_format or "by extension", output_format),
               options, [output for _, output in plan])
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False)
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_actor)
    actors = max(1, min(actors, len(plan)))
    for _, output in plan:
        output.parent.mkdir(parents=True, exist_ok=True)
    shards = ray.data.from_items([{"input": str(source.resolve()), "output": str(target.resolve())} for source, target in plan],
                                 override_num_blocks=len(plan))
    labelled = shards.map_batches(
        ShardAnnotator,
        fn_constructor_args=(str(Path(model_dir).resolve()), run, options, model.meta.get("sha256", {})),
        batch_size=1,
        num_cpus=cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
    by_input = {row["input"]: ShardResult(**row) for row in labelled.iter_rows()}
    return [by_input[str(source.resolve())] for source, _ in plan]
