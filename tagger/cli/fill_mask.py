"""``tagger fill-mask``: the likeliest words for each blank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tagger.cli.common import app, console, fail, out
from tagger.errors import TaggerError


@app.command("fill-mask")
def fill_mask(
    model: Annotated[Path, typer.Argument(help="A model with a masked-token head (tagger pretrain, or masked_lm.weight > 0).")],
    texts: Annotated[list[str], typer.Argument(help='Text with [MASK] for each blank, e.g. "I am [MASK] hungry ."')],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Candidates per blank.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per text.")] = False,
) -> None:
    """Print the likeliest words for every [MASK] in each text, with their probabilities."""
    from tagger.predict import Tagger

    try:
        filled = Tagger.load(model).fill_mask(texts, top_k)
    except TaggerError as error:
        fail(error)
        return
    for text, sentence in zip(texts, filled):
        if as_json:
            out.print_json(json.dumps({"text": text, **sentence.to_dict()}))
            continue
        if not sentence.blanks:
            console.print(f"no [MASK] in {text!r}")
            continue
        table = Table(title=text, title_justify="left")
        table.add_column("rank", justify="right")
        for blank in sentence.blanks:
            table.add_column(f"blank {sentence.blanks.index(blank) + 1} (token {blank.position})")
            table.add_column("p", justify="right")
        for rank in range(max(len(b.candidates) for b in sentence.blanks)):
            row = [str(rank + 1)]
            for blank in sentence.blanks:
                word, probability = blank.candidates[rank] if rank < len(blank.candidates) else ("", 0.0)
                row += [word, f"{probability:.3f}"]
            table.add_row(*row)
        out.print(table)
