"""``tagger pretrain``: masked-token pretraining on raw text."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import app, fail, out
from tagger.cli.options import TRAINING_DEFAULTS, TRAINING_FLAGS, TRAINING_HELPS, declared, training_overrides
from tagger.cli.progress import ProgressMonitor
from tagger.core.errors import TaggerError


@app.command()
@declared(*TRAINING_FLAGS, defaults=TRAINING_DEFAULTS, helps=TRAINING_HELPS)
def pretrain(
    config: Annotated[Path, typer.Argument(help="A TOML config whose data.train is raw text (see configs/pretrain-ewt.toml).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model directory; default models/ and the config file's name (models/quickstart for quickstart.toml).")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: --set pretrain.max_steps=1000")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUTPUT/checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Pretrain into OUTPUT even if it holds a model, replacing it.")] = False,
    **run_flags: Any,
) -> None:
    """Pretrain embeddings and encoder on raw text by masked-token prediction (for init_from and fill-mask)."""
    from tagger.data.configs import load_config
    from tagger.training.pretrain import pretrain as run_pretraining

    try:
        resolved = load_config(config, ["masked_lm.weight=1.0", *(overrides or []), *training_overrides(run_flags)])  # the only loss: no tasks needed
        result = run_pretraining(resolved, output or Path("models") / config.stem, resume=resume, overwrite=overwrite,
                                  monitor=ProgressMonitor())  # type: ignore[arg-type]
    except TaggerError as error:
        fail(error)
    if result.dev_scores:
        table = Table(title="dev masked-token prediction")
        for column in ("blanks", "accuracy", "perplexity"):
            table.add_column(column, justify="right")
        scores = result.dev_scores
        table.add_row(f"{scores['tokens']:,.0f}", f"{100 * scores['accuracy']:.2f}", f"{scores['perplexity']:.1f}")
        out.print(table)
    out.print(f"model saved to {escape(str(result.output_dir))} ({result.steps} steps, {result.seconds:.0f}s, {result.tokens_per_second:,.0f} tokens/s)", highlight=False)
