"""``tagger export-spacy``: a model as a spaCy pipeline folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tagger.cli.common import app, console, fail
from tagger.core.errors import TaggerError


@app.command("export-spacy")
def export_spacy(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    output_dir: Annotated[Path, typer.Argument(help="Folder for the spaCy pipeline.")],
    lang: Annotated[Optional[str], typer.Option(help="Language of the pipeline's tokenizer; default the model's.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Pipeline name in its meta.json (spacy package names the package by language and name, e.g. en_quickstart); default the model folder's name.")] = None,
    version: Annotated[str, typer.Option(help="Pipeline version in its meta.json.")] = "0.0.0",
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT_DIR if it exists.")] = False,
) -> None:
    """Write a spaCy pipeline (tokenizer + birnn_tagger with the model inside) that spacy.load reads."""
    from tagger.spacy.export import export_pipeline

    try:
        path = export_pipeline(model, output_dir, lang, name, version, overwrite)
    except TaggerError as error:
        fail(error)
    console.print(f"wrote a spaCy pipeline to {path}: spacy.load({str(path)!r})")
