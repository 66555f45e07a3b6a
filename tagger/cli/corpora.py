"""``tagger corpora``: the corpus catalogue, and where each corpus's files are."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import app, console, fail, out, print_json
from tagger.core.errors import TaggerError

FAMILIES = {"ud": "UD", "uner": "UNER", "": "own"}  # Universal Dependencies, Universal NER, a corpus of its own


@app.command("corpora")
def list_corpora(
    query: Annotated[str, typer.Argument(help="Show only the corpora whose name or language code contains this (fr, ud-de, pud).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: each corpus's family, format, tasks, language, "
                                                         "license, description, home page and, per split, where its file is (path or address).")] = False,
) -> None:
    """List the corpus catalogue: every UD treebank, Universal NER dataset and corpus of its own, with format,
    tasks, language, license and where the files are (local: in $BIRNN_TAGGER_DATA; cached; downloadable; missing).

    Nothing is downloaded; a license that each UD treebank states is read from its files once they are here.
    """
    from tagger.data import catalogue
    found = catalogue.entries(query)
    places = {e.name: {split: catalogue.locate(e, split) for split in e.files} for e in found}
    if as_json:
        print_json({e.name: {"family": e.family, "format": e.format, "tasks": list(e.tasks), "lang": e.lang, "license": e.license,
                             "description": e.description, "homepage": e.homepage,
                             "splits": {split: {"where": where, "file": detail} for split, (where, detail) in places[e.name].items()}}
                    for e in found})
        return
    if not found:
        fail(TaggerError(f"no corpus name or language code contains {query!r}; `tagger corpora` lists them all"))
    table = Table(title=f"{len(found)} corpora" + (f" whose name or language contains {query!r}" if query else ""))
    table.add_column("name", no_wrap=True)
    for column in ("family", "format", "tasks", "lang", "license", "files"):
        table.add_column(column)
    for e in found:
        table.add_row(escape(e.name), FAMILIES.get(e.family, e.family), e.format, ", ".join(e.tasks), e.lang, escape(e.license),
                      _files(places[e.name]))
    out.print(table)
    data = os.environ.get(catalogue.DATA_ENV)
    console.print(f"local: in ${catalogue.DATA_ENV} ({escape(data) if data else 'not set'}); cached: in {escape(str(catalogue.cache_dir()))}, "
                  f"where a downloadable file goes on first use (UD at {catalogue.UD_RELEASE}, UNER at a pinned or recorded commit)",
                  highlight=False)

def _files(places: dict[str, tuple[str, str]]) -> str:
    """Splits grouped by where their files are: "train, dev: cached; test: downloadable"."""
    groups: dict[str, list[str]] = {}
    for split, (where, _) in places.items():
        groups.setdefault(where, []).append(split)
    return "; ".join(f"{', '.join(splits)}: {where}" for where, splits in groups.items())
