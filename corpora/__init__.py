"""The corpus catalogue: one TOML file per known corpus, and how to find its files.

A corpus reference ``"name:split"`` resolves, in order, to:
1. ``$BIRNN_TAGGER_DATA/<name>/<file>`` when that environment variable names a folder;
2. the user's cache, ``$XDG_CACHE_HOME/birnn-tagger/corpora/<name>/<file>``
   (``~/.cache`` by default), downloading from the official source when missing.
Corpora shipped with the package (``sample``) resolve to their own folder.

Pretrained word vectors have a catalogue of their own (``vectors/*.toml``), resolved the same
way under ``vectors/`` in either place: ``resolve_vectors("glove-6b-100d")``.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import tomllib
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from tagger.atomic import atomic_path
from tagger.errors import TaggerError

DATA_ENV = "BIRNN_TAGGER_DATA"
CATALOGUE_DIR = Path(__file__).parent


class CorpusError(TaggerError):
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


def looks_like_reference(text: str) -> bool:
    """Whether ``text`` is written ``name:split`` and names no existing file: a corpus reference,
    catalogued or not (so that an unknown name is reported as such, with the catalogue)."""
    name, sep, split = text.partition(":")
    return bool(sep) and re.fullmatch(r"[A-Za-z0-9][\w.-]*", name) is not None and "/" not in split and not Path(text).exists()


@dataclass(frozen=True)
class VectorsEntry:
    name: str
    description: str
    license: str
    homepage: str
    file: str  # the name the vectors are read from, in the data folder or the cache
    download: str = ""
    member: str = ""  # the file inside a downloaded zip archive; "" when the download is the file
    note: str = ""


def vectors_catalogue() -> dict[str, VectorsEntry]:
    """Every set of word vectors described by a ``vectors/*.toml`` file beside this module, by name."""
    entries = {}
    for path in sorted((CATALOGUE_DIR / "vectors").glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        entries[raw["name"]] = VectorsEntry(**raw)
    return entries


def cache_dir(kind: str = "corpora") -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "birnn-tagger" / kind


def _find(relative: str, cached: Path) -> tuple[Path | None, list[str]]:
    """``$BIRNN_TAGGER_DATA/<relative>``, else ``cached``; also the places looked in."""
    searched = []
    if os.environ.get(DATA_ENV):
        candidate = Path(os.environ[DATA_ENV]) / relative
        if candidate.is_file():
            return candidate, searched
        searched.append(str(candidate))
    if cached.is_file():
        return cached, searched
    return None, [*searched, str(cached)]


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
    cached = cache_dir() / name / filename
    found, searched = _find(f"{name}/{filename}", cached)
    if found is not None:
        return found, entry
    if download and split in entry.download:
        fetch(entry.download[split], cached)
        return cached, entry
    how = f" Official source: {entry.homepage}." + (f" {entry.note}" if entry.note else "")
    raise CorpusError(
        f"{reference}: file {filename!r} not found (looked in {', '.join(searched)}). "
        f"Set {DATA_ENV} to a folder holding {name}/{filename}.{how}"
    )


def resolve_vectors(name: str, download: bool = True) -> Path:
    """The file of catalogued vectors ``name``: ``$BIRNN_TAGGER_DATA/vectors/<file>``, else the
    cache's ``vectors/<file>``, downloaded (and taken out of its zip archive) when missing."""
    entries = vectors_catalogue()
    if name not in entries:
        raise CorpusError(f"unknown vectors {name!r}; the catalogue has: {', '.join(entries)}")
    entry = entries[name]
    cached = cache_dir("vectors") / entry.file
    found, searched = _find(f"vectors/{entry.file}", cached)
    if found is not None:
        return found
    if not (download and entry.download):
        raise CorpusError(f"vectors {name!r}: file {entry.file!r} not found (looked in {', '.join(searched)}). "
                          f"Set {DATA_ENV} to a folder holding vectors/{entry.file}. Official source: {entry.homepage}.")
    if not entry.member:
        fetch(entry.download, cached)
        return cached
    archive = cached.with_name(Path(entry.download).name)
    if not archive.is_file():
        fetch(entry.download, archive)
    extract(archive, entry.member, cached)
    if all(other.download != entry.download or (cached.parent / other.file).is_file() for other in entries.values()):
        archive.unlink()  # kept while another entry's file (glove.6B.zip holds four) is still inside
    return cached


def extract(archive: Path, member: str, destination: Path) -> None:
    """Take ``member`` out of a zip archive through a temporary file, so no half file is left."""
    try:
        with atomic_path(destination) as partial, partial.open("wb") as handle, zipfile.ZipFile(archive) as opened, \
                opened.open(member) as source:
            shutil.copyfileobj(source, handle)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, zlib.error) as error:
        raise CorpusError(f"{archive}: cannot take {member!r} out of it ({error}); "
                          "if the archive is damaged, delete it and it is downloaded again") from None


def fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` through a temporary file, so no half file is left."""
    try:
        with atomic_path(destination) as partial, partial.open("wb") as handle, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, handle)
    except (OSError, http.client.HTTPException) as error:  # IncompleteRead: the connection dropped
        raise CorpusError(f"downloading {url} failed: {error!r}") from None
