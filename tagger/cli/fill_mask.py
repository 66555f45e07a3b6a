"""``tagger fill-mask``: the likeliest words for each blank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import app, console, fail, out
from tagger.cli.options import declared, run_options
from tagger.core.errors import TaggerError
from tagger.core.runtime import RunOptions


@app.command("fill-mask")
@declared((RunOptions, ("device", "precision", "threads")))
def fill_mask(
    model: Annotated[Path, typer.Argument(help="A model with a masked-token head (tagger pretrain, or masked_lm.weight > 0).")],
    texts: Annotated[list[str], typer.Argument(help='Text with [MASK] for each blank, e.g. "I am [MASK] hungry ."')],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Candidates per blank.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per text.")] = False,
    **run_flags: Any,
) -> None:
    """Print the likeliest words for every [MASK] in each text, with their probabilities."""
    from tagger.model.predict import Tagger

    try:
        run = run_options(run_flags)
        filled = Tagger.load(model, run).fill_mask(texts, top_k)
    except TaggerError as error:
        fail(error)
    for text, sentence in zip(texts, filled):
        if as_json:
            out.print_json(json.dumps({"text": text, **sentence.to_dict()}))
            continue
        # The text and the words are the user's and the vocabulary's: escaped, so that rich reads no markup in them
        # ("[mask]" or "[draft]" stay as written).
        if not sentence.blanks:
            hint = " (a blank is written [MASK], in capitals)" if "[mask]" in text.lower() else ""
            console.print(escape(f"no [MASK] in {text!r}{hint}"), highlight=False)
            continue
        table = Table(title=escape(text), title_justify="left")
        table.add_column("rank", justify="right")
        for blank in sentence.blanks:
            table.add_column(f"blank {sentence.blanks.index(blank) + 1} (token {blank.position})")
            table.add_column("p", justify="right")
        for rank in range(max(len(b.candidates) for b in sentence.blanks)):
            row = [str(rank + 1)]
            for blank in sentence.blanks:
                word, probability = blank.candidates[rank] if rank < len(blank.candidates) else ("", 0.0)
                row += [escape(word), f"{probability:.3f}"]
            table.add_row(*row)
        out.print(table)
