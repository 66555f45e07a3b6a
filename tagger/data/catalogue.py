"""The corpus catalogue: what each known corpus is, and how to find or download its files.

Entries come from three places, in the project's ``corpora/`` folder (installed as ``tagger.corpora``):
- a ``*.toml`` file for each corpus of its own (``sample``, ``conll2003``);
- ``ud_treebanks.tsv``: every Universal Dependencies treebank, named ``ud-<code>-<treebank>``
  (``ud-en-ewt``, ``ud-fr-gsd``), downloaded at the release tag :data:`UD_RELEASE`;
- ``uner_datasets.tsv``: every Universal NER v1 dataset, named ``uner-<code>-<treebank>``, downloaded at its
  pinned commit, or else at the commit its branch had at the first download (kept in ``SOURCE_COMMIT``).

A reference ``"name:split"`` resolves, in order, to:
1. ``$BIRNN_TAGGER_DATA/<name>/<file>`` when that environment variable names a folder;
2. the user's cache, ``$XDG_CACHE_HOME/birnn-tagger/corpora/<name>/<file>`` (``~/.cache`` by default),
   downloading from the official source when missing.
Corpora shipped with the package (``sample``) resolve to their own folder. A name of the UD or UNER shape
that the tables lack (a treebank newer than them) works too when its files are found in 1. or 2.

:func:`entry` gives a name's :class:`CorpusEntry`: ``family`` tells UD (``"ud"``) from UNER (``"uner"``),
``lang`` is the language's ISO code, ``license`` the one recorded beside the files once they are here.

Pretrained word vectors have a catalogue of their own (``vectors/*.toml``, and fastText's Common Crawl
vectors by language code in ``vectors/fasttext_cc.tsv``), resolved the same way under ``vectors/`` in
either place: ``resolve_vectors("glove-6b-100d")``, ``resolve_vectors("fasttext-cc-fr-300d")``.
"""

from __future__ import annotations

import difflib
import functools
import http.client
import json
import logging
import os
import re
import shutil
import tomllib
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tagger.corpora
from tagger.core.errors import TaggerError
from tagger.files.atomic import atomic_path, write_atomic

logger = logging.getLogger(__name__)

DATA_ENV = "BIRNN_TAGGER_DATA"
CATALOGUE_DIR = Path(tagger.corpora.__file__).parent  # the project's corpora/ folder, installed as tagger.corpora
UD_RELEASE = "r2.16"  # the Universal Dependencies release tag every UD treebank is downloaded at
SPLITS = ("train", "dev", "test")
FAMILY_NAME = re.compile(r"(ud|uner)-([a-z]{2,3})-([a-z0-9]+)")  # ud-<code>-<treebank>, uner-<code>-<treebank>
RAW = "https://raw.githubusercontent.com"
GITHUB_API = "https://api.github.com/repos"
COMMIT_FILE = "SOURCE_COMMIT"  # beside a UNER dataset's files: the commit they were downloaded from
UD_LICENSE = "per treebank: known once downloaded"  # then read from its README or LICENSE.txt
UNER_LICENSE = "CC BY-SA 4.0"
UNER_RELABEL = {"B-OTH": "O", "I-OTH": "O", "B-O": "O", "I-O": "O"}  # as the dataset's own loader reads them
UNER_NOTE = "Cite Mayhew et al., Universal NER: A Gold-Standard Multilingual Named Entity Recognition Benchmark, NAACL 2024."
FASTTEXT_CC_NOTE = ("Read compressed, as downloaded. Cite Grave, Bojanowski, Gupta, Joulin and Mikolov, "
                    "Learning Word Vectors for 157 Languages, LREC 2018.")


class CorpusError(TaggerError):
    """A corpus reference that cannot be resolved (unknown name or split, no file, failed download)."""


class MissingDownloadError(CorpusError):
    """A download address that answers 404 Not Found."""


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    description: str
    format: str
    license: str
    homepage: str
    files: dict[str, str]
    download: dict[str, str] = field(default_factory=dict)  # split -> address, where it is known before downloading
    columns: dict[str, int] = field(default_factory=dict)
    token_column: int = 0
    bundled: bool = False  # files ship inside this package
    note: str = ""
    lang: str = ""  # the language's ISO 639 code (a config can take its spaCy language from it)
    family: str = ""  # "ud" (Universal Dependencies), "uner" (Universal NER), "" (an entry of its own *.toml)
    tasks: tuple[str, ...] = ()  # the label layers the files hold
    repo: str = ""  # owner/name on GitHub that the files come from
    revision: str = ""  # the tag or commit downloaded; "" for a UNER dataset without a pin (its branch's commit)
    branch: str = ""  # UNER: the branch whose commit at the first download is used when nothing is pinned
    relabel: dict[str, str] = field(default_factory=dict)  # tags read as others (UNER: OTH and stray B-O are O)


# --------------------------------------------------------------------------- the catalogue

@functools.cache
def _rows(path: Path) -> tuple[tuple[str, ...], ...]:
    """The tab-separated rows of a data file beside this module, without its ``#`` comment lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(tuple(line.split("\t")) for line in lines if line.strip() and not line.startswith("#"))


def _ud_entry(code: str, treebank: str, repo: str = "", lang: str = "") -> CorpusEntry:
    """A UD treebank; without ``repo`` (not in the table) it has no download and is read from local files."""
    prefix = f"{code}_{treebank}"
    splits = ("test",) if treebank == "pud" else SPLITS  # the Parallel UD treebanks are test sets
    files = {split: f"{prefix}-ud-{split}.conllu" for split in splits}
    if repo:
        language, _, corpus = repo.removeprefix("UD_").partition("-")
        description = f"Universal Dependencies {language.replace('_', ' ')} {corpus} treebank: UPOS and XPOS tags"
        download = {split: f"{RAW}/UniversalDependencies/{repo}/{UD_RELEASE}/{file}" for split, file in files.items()}
    else:
        description = f"A Universal Dependencies treebank the catalogue's table lacks, read from {prefix}-ud-<split>.conllu"
        download = {}
    return CorpusEntry(
        name=f"ud-{code}-{treebank}", description=description, format="conllu", license=UD_LICENSE,
        homepage=f"https://github.com/UniversalDependencies/{repo}" if repo else "https://universaldependencies.org/",
        files=files, download=download, lang=lang or code, family="ud", tasks=("upos", "xpos"),
        repo=f"UniversalDependencies/{repo}" if repo else "", revision=UD_RELEASE if repo else "",
    )


def _uner_entry(code: str, treebank: str, repo: str = "", branch: str = "", commit: str = "",
                splits: Iterable[str] = SPLITS) -> CorpusEntry:
    """A UNER dataset; without ``repo`` (not in the table) it has no download and is read from local files."""
    prefix = f"{code}_{treebank}"
    files = {split: f"{prefix}-ud-{split}.iob2" for split in splits}
    path = f"UniversalNER/{repo}" if repo else ""
    if repo:
        description = f"Universal NER {repo.removeprefix('UNER_').replace('_', ' ')}: PER, ORG and LOC spans in IOB2"
    else:
        description = f"A Universal NER dataset the catalogue's table lacks, read from {prefix}-ud-<split>.iob2"
    return CorpusEntry(
        name=f"uner-{code}-{treebank}", description=description, format="iob2", license=UNER_LICENSE,
        homepage=f"https://github.com/{path}" if repo else "https://www.universalner.org/", files=files,
        download={split: f"{RAW}/{path}/{commit}/{file}" for split, file in files.items()} if commit else {},
        columns={"ner": 2}, token_column=1, note=UNER_NOTE, lang=code, family="uner", tasks=("ner",),
        repo=path, revision=commit, branch=branch, relabel=dict(UNER_RELABEL),
    )


@functools.cache
def _catalogue() -> dict[str, CorpusEntry]:
    entries = {}
    for path in sorted(CATALOGUE_DIR.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        raw["tasks"] = tuple(raw.get("tasks", raw.get("columns", ())))
        entries[raw["name"]] = CorpusEntry(**raw)
    for row in _rows(CATALOGUE_DIR / "ud_treebanks.tsv"):
        code, _, treebank = row[0].partition("_")
        ud = _ud_entry(code, treebank, row[1], row[2] if len(row) > 2 else "")
        entries[ud.name] = ud
    for short, repo, branch, commit, splits in _rows(CATALOGUE_DIR / "uner_datasets.tsv"):
        code, _, treebank = short.partition("_")
        uner = _uner_entry(code, treebank, repo, branch, commit, splits.split())
        entries[uner.name] = uner
    return entries


def catalogue() -> dict[str, CorpusEntry]:
    """Every catalogued corpus by name: the ``*.toml`` entries, every UD treebank and every UNER dataset of
    the tables (licenses as the tables know them: see :func:`entry` for the one recorded beside the files)."""
    return dict(_catalogue())


def _lookup(name: str) -> CorpusEntry | None:
    """The catalogue's entry of ``name``, one of its family for a UD- or UNER-shaped name the tables lack, else None."""
    entries = catalogue()
    if name in entries:
        return entries[name]
    match = FAMILY_NAME.fullmatch(name)
    if match is None:
        return None
    family, code, treebank = match.groups()
    return _ud_entry(code, treebank) if family == "ud" else _uner_entry(code, treebank)


def entry(name: str) -> CorpusEntry:
    """The entry of corpus ``name``, its license read from the files' folder when they are here (UD).

    A name of the UD or UNER shape that the tables lack gets an entry of its family that reads local
    files only. An unknown name is a :class:`CorpusError` naming close matches.
    """
    found = _lookup(name)
    if found is None:
        raise CorpusError(_unknown(name))
    return _with_license(found, _folders(name))


def entries(query: str = "") -> list[CorpusEntry]:
    """The entries whose name or language code contains ``query`` (all for ""), with their licenses as
    :func:`entry` gives them; UD- and UNER-shaped folders in the data folder or the cache count too."""
    found = catalogue()
    for base in _bases():
        if base.is_dir():
            for folder in sorted(base.iterdir()):
                if folder.name not in found and folder.is_dir() and FAMILY_NAME.fullmatch(folder.name):
                    found[folder.name] = _lookup(folder.name)  # type: ignore[assignment]
    query = query.lower()
    return [_with_license(e, _folders(e.name)) for e in found.values() if query in e.name or query in e.lang]


def is_reference(text: str) -> bool:
    """Whether ``text`` looks like ``name:split`` for a catalogued corpus, or one of the UD or UNER
    shape (not a path)."""
    name, sep, split = text.partition(":")
    return bool(sep) and "/" not in split and _lookup(name) is not None


def looks_like_reference(text: str) -> bool:
    """Whether ``text`` is written ``name:split`` and names no existing file: a corpus reference,
    catalogued or not (so that an unknown name is reported as such, with the catalogue)."""
    name, sep, split = text.partition(":")
    return bool(sep) and re.fullmatch(r"[A-Za-z0-9][\w.-]*", name) is not None and "/" not in split and not Path(text).exists()


def close_matches(name: str, names: Iterable[str], n: int = 6) -> list[str]:
    """Up to ``n`` of ``names`` like ``name``: the nearest spellings, then those containing it."""
    names = list(names)
    wanted = name.lower().replace("_", "-")
    fuzzy = difflib.get_close_matches(wanted, names, n=n, cutoff=0.6)
    contained = [other for other in names if len(wanted) >= 3 and wanted in other]
    return list(dict.fromkeys(fuzzy + contained))[:n]


def _unknown(name: str) -> str:
    entries = catalogue()
    own = [n for n, e in entries.items() if not e.family]
    counts = {family: sum(e.family == family for e in entries.values()) for family in ("ud", "uner")}
    close = close_matches(name, entries)
    return (f"unknown corpus {name!r}; the catalogue has: {', '.join(own)}, {counts['ud']} Universal Dependencies treebanks "
            f"(ud-<code>-<treebank>: ud-en-ewt, ud-fr-gsd, ...) and {counts['uner']} Universal NER datasets "
            f"(uner-<code>-<treebank>: uner-en-ewt, uner-da-ddt, ...); `tagger corpora QUERY` lists them."
            + (f" Close matches: {', '.join(close)}." if close else ""))


# --------------------------------------------------------------------------- finding and downloading files

def cache_dir(kind: str = "corpora") -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "birnn-tagger" / kind


def _bases() -> list[Path]:
    """The folders corpora are looked for in, in order: the data folder (when set), the cache."""
    return ([Path(os.environ[DATA_ENV])] if os.environ.get(DATA_ENV) else []) + [cache_dir()]


def _folders(name: str) -> list[Path]:
    return [base / name for base in _bases()]


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
    """The file of ``"name:split"`` and the name's entry (with the license recorded beside the file):
    found in the data folder or the cache, else downloaded into the cache when allowed."""
    name, _, split = reference.partition(":")
    known = _lookup(name)
    if known is None:
        raise CorpusError(_unknown(name))
    if split not in known.files:
        raise CorpusError(f"corpus {name!r} has no split {split!r}; it has: {', '.join(known.files)}")
    filename = known.files[split]
    if known.bundled:
        return CATALOGUE_DIR / name / filename, known
    cached = cache_dir() / name / filename
    found, searched = _find(f"{name}/{filename}", cached)
    if found is None and download and can_download(known, split):
        _download(known, split, cached)
        found = cached
    if found is not None:
        return found, _with_license(known, [found.parent])
    if known.family and not known.repo:
        table = "Universal Dependencies treebanks" if known.family == "ud" else "Universal NER datasets"
        close = close_matches(name, catalogue())
        raise CorpusError(f"{reference}: {name!r} is not in the catalogue's table of {table}, and its file {filename!r} was "
                          f"not found (looked in {', '.join(searched)})." + (f" Close matches: {', '.join(close)}." if close else "")
                          + f" Set {DATA_ENV} to a folder holding {name}/{filename}.")
    how = f" Official source: {known.homepage}." + (f" {known.note}" if known.note else "")
    raise CorpusError(f"{reference}: file {filename!r} not found (looked in {', '.join(searched)}). "
                      f"Set {DATA_ENV} to a folder holding {name}/{filename}.{how}")


def can_download(corpus: CorpusEntry, split: str) -> bool:
    """Whether ``split`` of ``corpus`` has a download address (a UNER dataset without a pin: its branch)."""
    return split in corpus.download or bool(corpus.family == "uner" and corpus.repo and corpus.branch and split in corpus.files)


def locate(corpus: CorpusEntry, split: str) -> tuple[str, str]:
    """Where ``split``'s file of ``corpus`` is, without downloading it: ``("bundled"|"local"|"cached", path)``,
    ``("downloadable", address)`` or ``("missing", "")`` ("local": in the data folder)."""
    filename = corpus.files[split]
    if corpus.bundled:
        return "bundled", str(CATALOGUE_DIR / corpus.name / filename)
    cached = cache_dir() / corpus.name / filename
    found, _ = _find(f"{corpus.name}/{filename}", cached)
    if found is not None:
        return ("cached" if found == cached else "local"), str(found)
    if not can_download(corpus, split):
        return "missing", ""
    if split in corpus.download:
        return "downloadable", corpus.download[split]
    commit = _recorded_commit(corpus.name)
    if commit:
        return "downloadable", f"{RAW}/{corpus.repo}/{commit}/{filename}"
    return "downloadable", f"{RAW}/{corpus.repo}/<commit of {corpus.branch} at the first download>/{filename}"


def _download(corpus: CorpusEntry, split: str, destination: Path) -> None:
    """Download ``split`` into the cache, with the files that say its license (and, UNER, its commit)."""
    revision = corpus.revision or _recorded_commit(corpus.name) or _branch_commit(corpus, destination.parent)
    url = corpus.download.get(split) or f"{RAW}/{corpus.repo}/{revision}/{corpus.files[split]}"
    try:
        fetch(url, destination)
    except MissingDownloadError:
        at = revision if corpus.family == "ud" else f"commit {revision[:12]}"
        why = "PUD treebanks and other small ones are test-only"
        if corpus.family == "ud":
            why += f"; a treebank newer than {UD_RELEASE} is not at that tag"
        raise CorpusError(f"corpus {corpus.name!r} has no {split} split at {at}: {url} is not there ({why})") from None
    if corpus.repo:
        _fetch_license(corpus, revision, destination.parent)


def _fetch_license(corpus: CorpusEntry, revision: str, folder: Path) -> None:
    """Put the repository's LICENSE.txt (and for UD its README, whose metadata name the license) into ``folder``
    unless there; a UNER dataset's commit goes into SOURCE_COMMIT. A failure is a warning: the data is here."""
    if corpus.family == "uner" and not (folder / COMMIT_FILE).is_file():
        write_atomic(folder / COMMIT_FILE, revision + "\n")
    wanted = [("LICENSE.txt",)] + ([("README.md", "README.txt")] if corpus.family == "ud" else [])
    for choices in wanted:
        if any((folder / name).is_file() for name in choices):
            continue
        for name in choices:
            try:
                fetch(f"{RAW}/{corpus.repo}/{revision}/{name}", folder / name)
                break
            except MissingDownloadError:
                continue  # README.md missing: README.txt
            except CorpusError as error:
                logger.warning("%s: its license is not recorded: %s", corpus.name, error)
                break


def _recorded_commit(name: str) -> str:
    """The commit in ``SOURCE_COMMIT`` beside the corpus's files (data folder, then cache); "" when none."""
    for folder in _folders(name):
        path = folder / COMMIT_FILE
        if path.is_file():
            words = path.read_text(encoding="utf-8", errors="replace").split()
            if words and re.fullmatch(r"[0-9a-f]{40}", words[0]):
                return words[0]
    return ""


def _branch_commit(corpus: CorpusEntry, folder: Path) -> str:
    """The commit ``corpus``'s branch is at now, asked of the GitHub API and written to ``SOURCE_COMMIT`` in
    ``folder``, so that the other splits later come from the same commit."""
    url = f"{GITHUB_API}/{corpus.repo}/commits/{corpus.branch}"
    answer = _read_json(url)
    sha = answer.get("sha") if isinstance(answer, dict) else None
    if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise CorpusError(f"{url} named no commit (no 'sha' in its answer); cannot download {corpus.name}")
    commit = answer.get("commit")
    committer = commit.get("committer") if isinstance(commit, dict) else None
    date = str(committer.get("date", ""))[:10] if isinstance(committer, dict) else ""
    write_atomic(folder / COMMIT_FILE, f"{sha} {date}".strip() + "\n")
    return sha


def _read_json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.loads(response.read().decode("utf-8"))
    except (OSError, http.client.HTTPException, ValueError) as error:  # ValueError: not JSON, not UTF-8
        raise CorpusError(f"asking {url} failed: {error!r}") from None


def _with_license(corpus: CorpusEntry, folders: Iterable[Path]) -> CorpusEntry:
    """``corpus`` with the license its first folder that states one records (UD treebanks differ)."""
    if corpus.family != "ud":
        return corpus
    for folder in folders:
        found = read_license(folder)
        if found:
            return replace(corpus, license=found)
    return corpus


def read_license(folder: Path) -> str:
    """The license a corpus folder states: the ``License:`` line of a UD README's machine-readable
    metadata, else the license that LICENSE.txt names; "" when neither is there."""
    for name in ("README.md", "README.txt"):
        path = folder / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            start = text.find("Machine-readable metadata")
            match = re.search(r"^License:[ \t]*(\S.*?)\s*$", text[max(start, 0):], re.MULTILINE)
            if match:
                return match.group(1)
    path = folder / "LICENSE.txt"
    if path.is_file():
        return license_name(path.read_text(encoding="utf-8", errors="replace")[:4000])
    return ""


CC_ELEMENTS = {"noncommercial": "NC", "sharealike": "SA", "noderivatives": "ND", "noderivs": "ND"}


def license_name(text: str) -> str:
    """The short name of the license a LICENSE text states ("CC BY-SA 4.0"), else its first line."""
    short = re.search(r"\bCC[\s-]+(BY(?:-(?:NC|SA|ND))*)[\s-]+(\d\.\d)\b", text) or \
        re.search(r"\b(BY(?:-(?:NC|SA|ND))+)[\s-]+(\d\.\d)\b", text)
    if short:
        return f"CC {short.group(1)} {short.group(2)}"
    long = re.search(r"\bAttribution((?:[\s-]+(?:NonCommercial|ShareAlike|NoDerivatives|NoDerivs))*)[\s-]+(\d\.\d)\b", text, re.IGNORECASE)
    if long:
        elements = [CC_ELEMENTS[word.lower()] for word in re.findall(r"[A-Za-z]+", long.group(1))]
        return f"CC {'-'.join(['BY', *elements])} {long.group(2)}"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:80]


def fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination`` through a temporary file, so no half file is left.
    An address that is not there (404) is a :class:`MissingDownloadError`."""
    try:
        with atomic_path(destination) as partial, partial.open("wb") as handle, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, handle)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise MissingDownloadError(f"downloading {url} failed: it is not there (404 Not Found)") from None
        raise CorpusError(f"downloading {url} failed: {error!r}") from None
    except (OSError, http.client.HTTPException) as error:  # IncompleteRead: the connection dropped
        raise CorpusError(f"downloading {url} failed: {error!r}") from None


# --------------------------------------------------------------------------- word vectors

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
    lang: str = ""  # the language's ISO 639 code


@functools.cache
def _vectors_catalogue() -> dict[str, VectorsEntry]:
    entries = {}
    for path in sorted((CATALOGUE_DIR / "vectors").glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        entries[raw["name"]] = VectorsEntry(**raw)
    for code, language in _rows(CATALOGUE_DIR / "vectors" / "fasttext_cc.tsv"):
        name = f"fasttext-cc-{code}-300d"
        entries[name] = VectorsEntry(
            name=name, description=f"fastText 300-d {language} vectors trained on Common Crawl and Wikipedia, gzip-compressed",
            license="CC BY-SA 3.0", homepage="https://fasttext.cc/docs/en/crawl-vectors.html", file=f"cc.{code}.300.vec.gz",
            download=f"https://dl.fbaipublicfiles.com/fasttext/vectors-crawl/cc.{code}.300.vec.gz", note=FASTTEXT_CC_NOTE, lang=code,
        )
    return entries


def vectors_catalogue() -> dict[str, VectorsEntry]:
    """Every set of word vectors by name: those of ``vectors/*.toml``, and ``fasttext-cc-<code>-300d`` for
    each language of ``vectors/fasttext_cc.tsv``."""
    return dict(_vectors_catalogue())


def resolve_vectors(name: str, download: bool = True) -> Path:
    """The file of catalogued vectors ``name``: ``$BIRNN_TAGGER_DATA/vectors/<file>``, else the
    cache's ``vectors/<file>``, downloaded (and taken out of its zip archive) when missing."""
    entries = vectors_catalogue()
    if name not in entries:
        own = [n for n in entries if not n.startswith("fasttext-cc-")]
        close = close_matches(name, entries)
        raise CorpusError(f"unknown vectors {name!r}; the catalogue has: {', '.join(own)}, and fasttext-cc-<code>-300d for "
                          f"{len(entries) - len(own)} language codes (fasttext-cc-en-300d, fasttext-cc-fr-300d, ...)."
                          + (f" Close matches: {', '.join(close)}." if close else ""))
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
