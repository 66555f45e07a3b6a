"""The ``tagger`` command line: one small module per command, each parsing its options, making one
library call and printing its tables. Library imports happen inside the commands, so that
``tagger --help`` and ``tagger info`` stay fast."""

from tagger.cli import annotate, benchmark, corpora, debug_data, ensemble, evaluate, export_spacy, fill_mask, info, init, pretrain, serve, train  # noqa: F401 - registers the commands
from tagger.cli.common import app

__all__ = ["app"]
