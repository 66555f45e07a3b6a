"""Finding a training config by what the user types: a TOML file, a shipped config by name
(``quickstart``, the project's ``configs/`` installed as ``tagger.configs``), or a corpus of the
catalogue (``ud-fr-gsd``, ``uner-da-ddt``), which gets its family's config with its data filled in."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

import tagger.configs
from tagger.core.config import TaggerConfig, apply_override, config_from_raw, load_config_file
from tagger.core.errors import ConfigError
from tagger.core.tokenize import TOKENIZER_PACKAGES, UNSPACED, package_missing
from tagger.data import catalogue

SHIPPED_DIR = Path(tagger.configs.__file__).parent


def load_config(path: str | Path, overrides: list[str] | None = None) -> TaggerConfig:
    """Read a TOML config, apply ``key.sub=value`` overrides, validate and fill defaults.

    ``path`` is a config file; else the name of a shipped config (``quickstart``, ``ewt-joint``: see
    :func:`shipped_configs`), found from any folder; else a Universal Dependencies treebank or a
    Universal NER dataset of the corpus catalogue (``ud-fr-gsd``, ``uner-da-ddt``): then the config is
    that family's (UPOS, or NER), with the corpus's splits as data, its language, and a segmenter
    learned from its text where spaCy cannot find the language's words (:func:`corpus_config`).
    """
    if Path(path).is_file():
        return load_config_file(path, overrides)
    if (shipped := shipped_configs().get(str(path))) is not None:
        return load_config_file(shipped, overrides)
    if (raw_corpus := corpus_config(str(path))) is not None:
        template, raw = raw_corpus
        for override in overrides or []:
            apply_override(raw, override)
        return config_from_raw(raw, template, source=f"{path} (the config {template.name} with its data)")
    if not Path(path).exists():
        raise ConfigError("", f"no such config file, shipped config or catalogue corpus; {_known_configs(str(path))}", str(path))
    return load_config_file(path, overrides)  # says what is wrong with the file


def shipped_configs() -> dict[str, Path]:
    """Name -> file of each config shipped with the package (``configs/*.toml``)."""
    return {path.stem: path for path in sorted(SHIPPED_DIR.glob("*.toml"))}


def shipped_config(name: str) -> Path:
    """The file of the shipped config ``name`` (``quickstart``; ``quickstart.toml`` too); a ConfigError
    listing the shipped names for another."""
    shipped = shipped_configs()
    found = shipped.get(name) or shipped.get(name.removesuffix(".toml"))
    if found is None:
        raise ConfigError("", f"no such shipped config; {_known_configs(name, corpora=False)}", name)
    return found


def describe_shipped() -> dict[str, str]:
    """Name -> what each shipped config is: the first sentence of its leading comment (its first line,
    and the next ones where the sentence goes on)."""
    described = {}
    for name, path in shipped_configs().items():
        comment = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.lstrip().startswith("#"):
                break
            comment.append(line.lstrip().lstrip("#").strip())
        text = " ".join(comment)
        described[name] = text.split(". ", 1)[0].rstrip(".") + "." if text else ""
    return described


def _known_configs(typed: str, corpora: bool = True) -> str:
    """What the user may have meant: the nearest shipped name, then all of them (and, with ``corpora``,
    that a catalogue corpus by name is a config too)."""
    names = list(shipped_configs())
    stem = Path(typed).stem if Path(typed).suffix == ".toml" else Path(typed).name
    close = difflib.get_close_matches(stem, names, n=1, cutoff=0.7)
    hint = f"did you mean the shipped config {close[0]!r}? " if close else ""
    known = f"{hint}shipped configs, by name from any folder: {', '.join(names)} (`tagger init config --list` says what each is)"
    return known + ("; a UD treebank or UNER dataset by name (ud-fr-gsd, uner-da-ddt) takes its family's config" if corpora else "")


def corpus_config(name: str) -> tuple[Path, dict[str, Any]] | None:
    """The config (its template's path and its raw values) that trains the catalogue corpus ``name``, a UD
    treebank (UPOS) or a UNER dataset (NER); None when ``name`` is no such corpus."""
    try:
        entry = catalogue.entry(name)
    except catalogue.CorpusError:
        return None
    if entry.family not in ("ud", "uner"):
        return None
    template = catalogue.CATALOGUE_DIR / "configs" / f"{entry.family}.toml"
    raw = tomllib.loads(template.read_text(encoding="utf-8"))
    raw["data"] = {split: f"{name}:{split}" for split in entry.files}
    raw["lang"] = entry.lang if _spacy_knows(entry.lang) else "xx"
    # Learn the words from the corpus where spaCy cannot find them, or would need a package that is not here.
    if entry.lang in UNSPACED or (raw["lang"] in TOKENIZER_PACKAGES and package_missing(raw["lang"])):
        raw["segmenter"] = {"train": True}
    return template, raw


def _spacy_knows(lang: str) -> bool:
    from spacy.util import get_lang_class

    try:
        get_lang_class(lang)
    except (ImportError, KeyError, ValueError):
        return False
    return True
