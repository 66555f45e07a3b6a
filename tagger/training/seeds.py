"""One model per seed, and their scores as a distribution (Reimers & Gurevych 2017: about one
point of NER F1 comes from the seed alone).

``DIR/seed-13``, ``DIR/seed-14``, ... each hold a whole model with its checkpoint; the best seed
by dev score is copied to ``DIR`` itself, so that ``DIR`` is a model like any other, whose
meta.json and ``seeds.json`` record every seed's scores with their mean and standard deviation.
``DIR/ensemble`` holds the seeds as one ensemble (:mod:`tagger.nn.ensemble`), scored on dev and test too.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagger.analysis.evaluation import selection_score
from tagger.core.config import TaggerConfig
from tagger.core.errors import TaggerError, writing
from tagger.core.runtime import choose_device
from tagger.core.types import TaskScores
from tagger.files.atomic import write_atomic
from tagger.files.locking import hold
from tagger.model.serialize import SEGMENTER, read_files, save_ensemble, segmenter_files, write_files
from tagger.training.checkpoint import check_output_dir, has_checkpoint
from tagger.training.distributed import is_main_process, local_device, process_group
from tagger.training.loop import TrainResult, train
from tagger.training.monitor import TrainingMonitor
from tagger.training.segmenter import prepare_segmenter, refuse_distributed_segmenter

SUMMARY = "seeds.json"
ENSEMBLE_DIR = "ensemble"


def headline(scores: dict[str, Any]) -> float:
    """A task's headline metric in a recorded scores dict (:attr:`TaskScores.headline`)."""
    return TaskScores.from_dict(scores).headline


@dataclass
class SeedRun:
    seed: int
    directory: Path
    dev: dict[str, dict[str, Any]]  # task -> metrics, as in meta.json
    test: dict[str, dict[str, Any]]
    best_epoch: int
    epochs: int
    seconds: float
    dev_main: float  # what picks the best seed: the mean dev headline of training.select_by (all tasks when empty)

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "directory": self.directory.name, "best_epoch": self.best_epoch, "epochs": self.epochs,
                "seconds": round(self.seconds, 1), "dev_main": self.dev_main,
                "dev": {t: headline(s) for t, s in self.dev.items()}, "test": {t: headline(s) for t, s in self.test.items()}}


@dataclass
class SeedsResult:
    output_dir: Path
    runs: list[SeedRun]
    best: SeedRun
    ensemble: dict[str, dict[str, dict[str, Any]]] = dataclasses.field(default_factory=dict)  # split -> task -> metrics

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """split -> task -> mean and sample standard deviation of the headline metric over the seeds."""
        summary: dict[str, dict[str, dict[str, float]]] = {}
        for split in ("dev", "test"):
            tasks = [task for task in getattr(self.runs[0], split) if all(task in getattr(r, split) for r in self.runs)]
            for task in tasks:
                values = [headline(getattr(r, split)[task]) for r in self.runs]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                summary.setdefault(split, {})[task] = {"mean": statistics.fmean(values), "sd": sd}
        return summary

    def to_dict(self) -> dict[str, Any]:
        found = {"chosen": self.best.seed, "chosen_by": "dev", "runs": [r.to_dict() for r in self.runs], "summary": self.summary()}
        if self.ensemble:
            found["ensemble"] = {split: {t: headline(s) for t, s in scores.items()} for split, scores in self.ensemble.items()}
        return found


def train_seeds(config: TaggerConfig, output_dir: str | Path, seeds: Sequence[int], *, resume: bool = False,
                overwrite: bool = False, monitor: TrainingMonitor | None = None) -> SeedsResult:
    """Train one model per seed into ``output_dir/seed-N`` and copy the best (by dev) to ``output_dir``.

    A segmenter (``segmenter.train``) is trained once, into ``output_dir/segmenter``, and every seed carries it.
    With ``resume``, a seed whose model finished is read back, not trained again, an interrupted
    one continues from its checkpoint and one not started starts. Without it, an ``output_dir``
    that holds a model is refused unless ``overwrite``. Under torchrun every process calls this.
    """
    output_dir = Path(output_dir)
    with hold(output_dir) if is_main_process() else nullcontext():
        if is_main_process() and not resume:
            check_output_dir(output_dir, resume, overwrite)
        if config.segmenter.train:  # one segmenter for every seed: it reads the text, the seeds differ in the tagger
            refuse_distributed_segmenter(config)
            prepare_segmenter(config, output_dir, resume, monitor or TrainingMonitor())
            config = dataclasses.replace(config, segmenter=dataclasses.replace(config.segmenter, train=False,
                                                                               model=str(output_dir / SEGMENTER)))
        return _train_seeds(config, output_dir, seeds, resume, overwrite, monitor)


def _train_seeds(config: TaggerConfig, output_dir: Path, seeds: Sequence[int], resume: bool, overwrite: bool,
                 monitor: TrainingMonitor | None) -> SeedsResult:
    runs = []
    # One process group for every seed (train joins it), and rank 0 alone decides what is finished.
    with process_group(local_device(choose_device(config.training.device))) as group:
        for seed in seeds:
            directory = output_dir / f"seed-{seed}"
            run = group.from_main(lambda: _finished(seed, directory, config)) if resume else None  # noqa: B023
            started = resume and group.from_main(lambda: has_checkpoint(directory))  # noqa: B023
            runs.append(run if run is not None else _train_seed(config, seed, directory, started, overwrite, monitor))
            if run is not None and monitor is not None:
                monitor.message(f"seed {seed}: finished earlier in {directory}, not trained again")
    best = max(runs, key=lambda r: r.dev_main)  # the first of equals
    result = SeedsResult(output_dir, runs, best)
    if is_main_process() and len(runs) > 1:
        say = monitor.message if monitor is not None else print
        say(f"the {len(runs)} seeds as one ensemble -> {output_dir / ENSEMBLE_DIR}")
        try:
            result.ensemble = _ensemble(result, config)
        except TaggerError as error:  # the seeds and the best of them are published all the same
            say(f"no ensemble of the seeds: {error}")
    if is_main_process():
        with writing(output_dir, f"Each seed's model is whole in {output_dir}/seed-N: free space (or fix the cause), then rerun "
                                 "with --resume (finished seeds are not trained again)"):
            _publish(result)
    return result


def _train_seed(config: TaggerConfig, seed: int, directory: Path, resume: bool, overwrite: bool,
                monitor: TrainingMonitor | None) -> SeedRun:
    seeded = dataclasses.replace(config, seed=seed)
    if monitor is not None and is_main_process():
        monitor.message(f"seed {seed} -> {directory}")
    return _from_result(seed, train(seeded, directory, resume=resume, overwrite=overwrite, monitor=monitor), config)


def _dev_main(dev: dict[str, dict[str, Any]], config: TaggerConfig) -> float:
    """What picks the best seed: what picks the best epoch (:func:`tagger.analysis.evaluation.selection_score`)."""
    return selection_score({task: TaskScores.from_dict(scores) for task, scores in dev.items()}, config.training.select_by)


def _from_result(seed: int, result: TrainResult, config: TaggerConfig) -> SeedRun:
    dev = {t: s.to_dict() for t, s in result.dev_scores.items()}
    return SeedRun(seed, result.output_dir, dev, {t: s.to_dict() for t, s in result.test_scores.items()},
                   result.best_epoch, len(result.epochs), result.seconds, _dev_main(dev, config))


def _finished(seed: int, directory: Path, config: TaggerConfig) -> SeedRun | None:
    """The run in ``directory`` if its training finished (meta.json says so), else None."""
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    training = meta.get("training", {})
    if not training.get("finished"):
        return None
    dev = meta["scores"]["dev"]
    return SeedRun(seed, directory, dev, meta["scores"].get("test", {}), training["best_epoch"], training["epochs"],
                   training["seconds"], _dev_main(dev, config))


def _ensemble(result: SeedsResult, config: TaggerConfig) -> dict[str, dict[str, dict[str, Any]]]:
    """Write the seeds as one ensemble into ``DIR/ensemble``; its dev and test scores."""
    from tagger.analysis.evaluation import evaluate
    from tagger.core.runtime import RunOptions
    from tagger.data import load_sentences
    from tagger.model.predict import Tagger

    directory = result.output_dir / ENSEMBLE_DIR
    device = str(local_device(choose_device(config.training.device)))
    loaded = save_ensemble(directory, [run.directory for run in result.runs], overwrite=True, device=device)
    tagger = Tagger.from_loaded(loaded, str(directory), RunOptions(device=device, threads=config.training.threads))
    scores = {}
    for split, sources in (("dev", config.data.dev), ("test", config.data.test)):
        if sources:
            scores[split] = {t: s.to_dict() for t, s in evaluate(tagger, load_sentences(sources, config.tasks), config.training.eval_batch_size).items()}
    return scores


def _publish(result: SeedsResult) -> None:
    """Copy the best seed's model files to the output directory; record every seed there."""
    summary = result.to_dict()
    for path in sorted(result.best.directory.iterdir()):
        if path.is_file() and path.name != "meta.json":
            write_atomic(result.output_dir / path.name, path.read_bytes())
    segmenter = segmenter_files(read_files(result.best.directory))
    if segmenter:
        write_files(result.output_dir / SEGMENTER, segmenter)
    meta = json.loads((result.best.directory / "meta.json").read_text(encoding="utf-8"))
    write_atomic(result.output_dir / "meta.json", json.dumps({**meta, "seeds": summary}, indent=2))
    write_atomic(result.output_dir / SUMMARY, json.dumps(summary, indent=2))
