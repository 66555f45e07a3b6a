"""The data layer: formats (one table of extensions), readers (one per format, strict or lenient),
sources (config -> Sentences), word vectors, writers (Predictions -> JSONL, CoNLL-U, columns, HTML,
DocBin) and where labels go on a spaCy Doc (doc_targets), the corpus and vector catalogue
(catalogue), and configs found by name (configs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tagger.data.sources import load_corpus, load_sentences, read_source, source_for_file

__all__ = ["load_corpus", "load_sentences", "read_source", "source_for_file"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the command line reads tagger.data.formats without the catalogue and readers.
    if name in __all__:
        from tagger.data import sources

        return getattr(sources, name)
    raise AttributeError(f"module 'tagger.data' has no attribute {name!r}")
