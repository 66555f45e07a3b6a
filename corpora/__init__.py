"""The corpus catalogue: one TOML file per known corpus, and how to find its files.

A corpus reference ``"name:split"`` resolves, in order, to:
1. ``$BIRNN_TAGGER_DATA/<name>/<file>`` when that environment variable names a folder;
2. the user's cache, ``$XDG_CACHE_HOME/birnn-tagger/corpora/<name>/<file>``
   (``~/.cache`` by default), downloading from the official source when missing.
Corpora shipped with the package (``sample``) resolve to their own folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DATA_ENV = "BIRNN_TAGGER_DATA"
CATALOGUE_DIR = Path(__file__).parent


class CorpusError(Exception):
    """A corpus reference that cannot be resolved (unknown name or split, no file, failed download)."""


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    description: str
    format: str
    license: str
    homepage: str
    files: dict[str, str]
    download: dict[str, str] = field(default_factory=dict)
    columns: dict[str, int] = field(default_factory=dict)
    token_column: int = 0
    bundled: bool = False  # files ship inside this package
    note: str = ""


def catalogue() -> dict[str, CorpusEntry]:
    """Every corpus described by a ``*.toml`` file beside this module, by name."""
    entries = {}
    for path in sorted(CATALOGUE_DIR.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        entries[raw["name"]] = CorpusEntry(**raw)
    return entries


def is_reference(text: str) -> bool:
    """Whether ``text`` looks like ``name:split`` for a catalogued corpus (not a path)."""
    name, sep, split = text.partition(":")
    return bool(sep) and name in catalogue() and "/" not in split


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "birnn-tagger" / "corpora"


def resolve(reference: str, download: bool = True) -> tuple[Path, CorpusEntry]:
    """Find the file for ``"name:split"``; download it into the cache if allowed and missing."""
    name, _, split = reference.partition(":")
    entries = catalogue()
    if name not in entries:
        raise CorpusError(f"unknown corpus {name!r}; the catalogue has: {', '.join(entries)}")
    entry = entries[name]
    if split not in entry.files:
        raise CorpusError(f"corpus {name!r} has no split {split!r}; it has: {', '.join(entry.files)}")
    filename = entry.files[split]
    if entry.bundled:
        return CATALOGUE_DIR / name / filename, entry
    searched = []
    if os.environ.get(DATA_ENV):
        candidate = Path(os.environ[DATA_ENV]) / name / filename
        if candidate.is_file():
            return candidate, entry
        searched.append(str(candidate))
    cached = cache_dir() / name / filename
    if cached.is_file():
        return cached, entry
    searched.append(str(cached))
    if download and split in entry.download:
        fetch(entry.download[split], cached)
        return cached, entry
    how = f" Official source: {entry.homepage}." + (f" {entry.note}" if entry.note else "")
    raise CorpusError(
        f"{reference}: file {filename!r} not found (looked in {', '.join(searched)}). "
        f"Set {DATA_ENV} to a folder holding {name}/{filename}.{how}"
    )


def fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` through a temporary file, so no half file is left."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as handle:
        partial = Path(handle.name)
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, handle)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise CorpusError(f"downloading {url} failed: {error}") from None
    partial.replace(destination)
