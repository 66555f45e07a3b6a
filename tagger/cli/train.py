"""``tagger train``: train a model (or one per seed) and print the epochs and scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import app, console, fail, headline_text, out, scores_table
from tagger.cli.options import TRAINING_DEFAULTS, TRAINING_FLAGS, TRAINING_HELPS, declared, training_overrides
from tagger.cli.progress import ProgressMonitor
from tagger.core.errors import TaggerError


def _epochs_table(records: list[dict[str, Any]]) -> Table:
    tasks = list(records[0]["dev"]) if records else []
    table = Table(title="training")
    for column in ("epoch", "loss", "tokens/s", "seconds", *(f"dev {t}" for t in tasks), "best"):
        table.add_column(column, justify="right")
    for r in records:
        dev = [headline_text(r["dev"][t]) if t in r["dev"] else "-" for t in tasks]
        table.add_row(str(r["epoch"]), f"{r['train_loss']:.4f}", f"{r['tokens_per_second']:,.0f}", f"{r['seconds']:.0f}", *dev, "*" if r["best"] else "")
    return table


def _seed_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: write whole numbers separated by commas, e.g. 13,14,15") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise typer.BadParameter(f"{text!r}: name each seed once, e.g. 13,14,15")
    from tagger.core.config import SEED

    if outside := [seed for seed in seeds if not SEED.low <= seed <= SEED.high]:  # type: ignore[operator]
        raise typer.BadParameter(f"{outside[0]}: a seed must be {SEED}")
    return seeds


def _seeds_table(result: Any) -> Table:
    runs = result.runs
    dev_tasks, test_tasks = list(runs[0].dev), list(runs[0].test)
    table = Table(title=f"{len(runs)} seeds (the best by dev, seed {result.best.seed}, is the model in {escape(str(result.output_dir))})")
    for column in ("seed", "best epoch", "minutes", *(f"dev {t}" for t in dev_tasks), *(f"test {t}" for t in test_tasks)):
        table.add_column(column, justify="right")
    for run in runs:
        scores = [headline_text(run.dev[t]) if t in run.dev else "-" for t in dev_tasks]
        scores += [headline_text(run.test[t]) if t in run.test else "-" for t in test_tasks]
        table.add_row(f"{run.seed}{' *' if run is result.best else ''}", f"{run.best_epoch}/{run.epochs}", f"{run.seconds / 60:.1f}", *scores)
    summary = result.summary()
    cells = [summary.get(split, {}).get(t) for split, tasks in (("dev", dev_tasks), ("test", test_tasks)) for t in tasks]
    table.add_row("mean ± sd", "", "", *(f"{100 * c['mean']:.2f} ± {100 * c['sd']:.2f}" if c else "-" for c in cells), style="bold")
    if result.ensemble:
        found = [result.ensemble.get(split, {}).get(t) for split, tasks in (("dev", dev_tasks), ("test", test_tasks)) for t in tasks]
        table.add_row("ensemble", "", "", *(headline_text(f) if f else "-" for f in found), style="bold")
    return table


@app.command()
@declared(*TRAINING_FLAGS, defaults=TRAINING_DEFAULTS, helps=TRAINING_HELPS)
def train(
    config: Annotated[Path, typer.Argument(help="A TOML config (see configs/), or a UD treebank or Universal NER dataset by name (ud-fr-gsd, uner-da-ddt: its family's config).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model directory; default models/ and the config file's name (models/quickstart for quickstart.toml).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: --set training.max_epochs=3")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUTPUT/checkpoint (with --seeds: each seed's; finished seeds are kept).")] = False,
    seeds: Annotated[Optional[str], typer.Option(callback=_seed_list, help="Train one model per seed, e.g. 13,14,15, into OUTPUT/seed-N; print each "
                                                 "seed's scores with mean ± sd; the best seed by dev becomes the model in OUTPUT.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Train into OUTPUT even if it holds a model, replacing it.")] = False,
    **run_flags: Any,
) -> None:
    """Train a model and print its dev (and test) scores.

    Under torchrun every process runs this command; rank 0 alone draws progress and prints the tables.
    """
    from tagger.data.configs import load_config
    from tagger.training import train as run_training
    from tagger.training.distributed import RankZeroFailed, is_main_process, process_rank
    from tagger.training.seeds import train_seeds

    main = is_main_process()
    seed_list: list[int] = seeds or []  # type: ignore[assignment]  # the callback made it a list
    try:
        resolved = load_config(config, [*(overrides or []), *training_overrides(run_flags)])
        directory = output or Path("models") / config.stem
        monitor = ProgressMonitor() if main else None
        if seed_list:
            several = train_seeds(resolved, directory, seed_list, resume=resume, overwrite=overwrite, monitor=monitor)  # type: ignore[arg-type]
        else:
            result = run_training(resolved, directory, resume=resume, overwrite=overwrite, monitor=monitor)  # type: ignore[arg-type]
    except TaggerError as error:
        if main:
            fail(error)
        if not isinstance(error, RankZeroFailed):  # rank 0 reported that one
            console.print(f"[bold red]error[/] (rank {process_rank()}): {escape(str(error))}", highlight=False)
        raise typer.Exit(code=1) from None
    if not main:
        return
    if seed_list:
        out.print(_seeds_table(several))
        return
    out.print(_epochs_table(result.epochs))
    out.print(scores_table(f"dev scores (best epoch {result.best_epoch})", result.dev_scores))
    if result.test_scores:
        out.print(scores_table("test scores", result.test_scores))
    out.print(f"model saved to {escape(str(result.output_dir))} ({result.seconds:.0f}s, {result.train_tokens_per_second:,.0f} training tokens/s)", highlight=False)
