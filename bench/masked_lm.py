"""Masked-token prediction: how well a pretrained model fills blanks, and what it does for taggers.

    tagger pretrain configs/pretrain-ewt.toml                      # -> models/pretrain-ewt
    python bench/masked_lm.py --pretrained models/pretrain-ewt --epochs 3

1. Masked-token accuracy and perplexity of the pretrained model on the EWT test text (15% of the
   in-vocabulary tokens chosen with a fixed seed, 80/10/10 replacement, as in training).
2. For the shipped UPOS and NER configs, three trainings with the same seed and the same number
   of epochs: as shipped, with the masked-token auxiliary loss (``masked_lm.weight``), and started
   from the pretrained model (``init_from``). Test scores and training time for each.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

VARIANTS = {  # name -> (folder, overrides)
    "as shipped": ("shipped", []),
    "+ masked-token loss": ("aux", ["masked_lm.weight={weight}"]),
    "init_from pretrained": ("init", ['init_from="{pretrained}"']),
}
CONFIGS = {"upos": "configs/ud-en-ewt-upos.toml", "ner": "configs/uner-en-ewt-ner.toml"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", default="models/pretrain-ewt")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every tagger training (the same budget for each)")
    parser.add_argument("--weight", type=float, default=0.5, help="masked_lm.weight of the auxiliary-loss runs")
    parser.add_argument("--tasks", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--output", default="models/bench-masked-lm")
    args = parser.parse_args()

    from tagger.core.config import SourceConfig
    from tagger.data import load_sentences
    from tagger.data.configs import load_config
    from tagger.model.predict import Tagger
    from tagger.training import train

    console = Console()
    pretrained = Tagger.load(args.pretrained)
    test = load_sentences([SourceConfig(path="ud-en-ewt:test")], {})
    scores = pretrained.masked_token_scores(test, pretrained.config.masked_lm)
    steps = pretrained.meta.get("pretraining", {}).get("steps")
    console.print(f"pretrained model {args.pretrained} ({steps} steps): EWT test masked-token accuracy {100 * scores['accuracy']:.2f}%, "
                  f"perplexity {scores['perplexity']:.1f} over {scores['tokens']:,.0f} blanks")

    table = Table(title=f"same seed, {args.epochs} epochs each")
    for column in ("task", "variant", "test score", "dev score", "minutes"):
        table.add_column(column, justify="left" if column in ("task", "variant") else "right")
    for task in args.tasks:
        for variant, (folder, overrides) in VARIANTS.items():
            settings = [o.format(weight=args.weight, pretrained=args.pretrained) for o in overrides]
            settings += [f"training.max_epochs={args.epochs}", "training.max_minutes=0", "training.patience=0"]
            config = load_config(CONFIGS[task], settings)
            started = time.perf_counter()
            result = train(config, Path(args.output) / f"{task}-{folder}")
            minutes = (time.perf_counter() - started) / 60
            table.add_row(task, variant, _main(result.test_scores[task]), _main(result.dev_scores[task]), f"{minutes:.1f}")
            console.print(f"{task} / {variant}: test {_main(result.test_scores[task])} ({minutes:.1f} min)")
    console.print(table)


def _main(scores) -> str:  # noqa: ANN001 - TaskScores
    metrics = scores.metrics
    return f"F1 {100 * metrics['f1']:.2f}" if "f1" in metrics else f"acc {100 * metrics['accuracy']:.2f}"


if __name__ == "__main__":
    main()
