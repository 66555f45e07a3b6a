"""File formats by name and by extension: the one table that the readers, annotate (and its Ray
engine) and evaluate's outputs go by, so that an extension means the same format everywhere."""

from __future__ import annotations

from pathlib import Path

FORMAT_OF_SUFFIX = {
    ".conllu": "conllu",
    ".conll": "conll",  # token and label columns
    ".tsv": "conll",
    ".bio": "conll",
    ".iob2": "iob2",  # Universal NER's columns: token, then NER label
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".txt": "text",  # raw text, one document per line
    ".spacy": "spacy",  # a spaCy DocBin
    ".html": "html",  # a page to look at (written only)
    ".htm": "html",
}
SUFFIX_OF_FORMAT = {"conllu": ".conllu", "conll": ".conll", "iob2": ".iob2", "jsonl": ".jsonl", "text": ".txt", "spacy": ".spacy",
                    "html": ".html"}


def format_of(path: str | Path) -> str | None:
    """The format ``path``'s extension names, else None."""
    return FORMAT_OF_SUFFIX.get(Path(path).suffix.lower())


def known_suffixes(formats: tuple[str, ...] | None = None) -> str:
    """The extensions of ``formats`` (all: None) with their formats, as an error lists them."""
    return ", ".join(f"{suffix} ({fmt})" for suffix, fmt in FORMAT_OF_SUFFIX.items() if formats is None or fmt in formats)
