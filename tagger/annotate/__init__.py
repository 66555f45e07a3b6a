"""``tagger annotate``: label a file record by record, keep going past bad records, resume after a stop.

One loop (:mod:`tagger.annotate.loop`) reads records through the lenient readers, labels them in
chunks (in this process or in worker processes, :mod:`tagger.annotate.workers`) and hands each
prediction, or each bad record, to a sink (:mod:`tagger.annotate.sinks`): standard output, a
resumable JSONL/CoNLL-U/column file, or a spaCy DocBin. ``--engine ray`` runs the same loop per
shard on a Ray cluster (:mod:`tagger.annotate.ray`).
"""

from tagger.annotate.loop import AnnotateOptions, AnnotateSummary, annotate_file, annotate_stream

__all__ = ["AnnotateOptions", "AnnotateSummary", "annotate_file", "annotate_stream"]
