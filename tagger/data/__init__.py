"""The data layer: readers (one per format, strict or lenient), sources (config -> Sentences), word
vectors, and writers (Predictions -> JSONL, CoNLL-U, columns, HTML, DocBin). The corpus and vector
catalogues are the top-level ``corpora`` package."""

from tagger.data.sources import load_corpus, load_sentences, read_source, source_for_file

__all__ = ["load_corpus", "load_sentences", "read_source", "source_for_file"]
