"""``tagger annotate``: label a file record by record, keep going past bad records, resume after a stop.

One loop (:mod:`tagger.annotate.loop`) reads records through the lenient readers, labels them in
chunks (in this process or in worker processes, :mod:`tagger.annotate.workers`) and hands each
prediction, or each bad record, to a sink (:mod:`tagger.annotate.sinks`): standard output, a
resumable JSONL/CoNLL-U/column file, or a spaCy DocBin. ``--engine ray`` runs the same loop per
shard on a Ray cluster (:mod:`tagger.annotate.ray`). What it reads and writes is an
:class:`AnnotateOptions` (:mod:`tagger.annotate.options`, light to import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagger.annotate.options import AnnotateOptions

if TYPE_CHECKING:
    from tagger.annotate.loop import AnnotateSummary, annotate_file, annotate_stream

__all__ = ["AnnotateOptions", "AnnotateSummary", "annotate_file", "annotate_stream"]


def __getattr__(name: str) -> Any:
    # The loop loads the model code (torch): imported on first use, so that the options stay light.
    if name in ("AnnotateSummary", "annotate_file", "annotate_stream"):
        from tagger.annotate import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'tagger.annotate' has no attribute {name!r}")
