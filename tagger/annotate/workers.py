"""Labelling chunks of records, in this process or in worker processes that die with their parent."""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from itertools import islice
from typing import Any

from tagger.core.runtime import RunOptions, cores_per_process
from tagger.core.types import BadRecord, Prediction, Sentence
from tagger.model.predict import Tagger

CHUNK_BATCHES = 16  # a chunk is this many batches of records: tokenized, labelled and written together


def label_chunks(
    tagger: Tagger, records: Iterator[Sentence | BadRecord], workers: int = 1, scores: bool = False,
) -> Iterator[tuple[list[Sentence | BadRecord], list[Prediction]]]:
    """Chunks of ``CHUNK_BATCHES`` batches of records (the tagger's batch size) with the Predictions of
    their Sentences, in input order.

    With ``workers`` > 1 the chunks are labelled in that many processes, each running as the tagger
    does, with its share of the CPU cores as torch threads unless the tagger's run options name a
    number; a few chunks per worker are in flight
    at a time, so memory stays bounded whatever the input size.
    """
    chunks = iter(lambda: list(islice(records, tagger.run.batch_size * CHUNK_BATCHES)), [])
    if workers <= 1:
        for chunk in chunks:
            yield chunk, _label_all(tagger, [item for item in chunk if isinstance(item, Sentence)], scores)
        return
    run = replace(tagger.run, threads=tagger.run.threads or cores_per_process(workers))  # --threads N: N each
    files = tagger.files()  # the very model this process labels with: never the directory read again, which may have changed
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(files, tagger.info.name, run, os.getpid(), scores)) as pool:
        pending: deque = deque()
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(_label_in_worker, [item for item in chunk if isinstance(item, Sentence)])))
                if len(pending) >= 2 * workers:
                    done_chunk, future = pending.popleft()
                    yield done_chunk, future.result()
        except Exception:  # reading the input failed: the chunks read before it are still labelled and written
            while pending:
                done_chunk, future = pending.popleft()
                yield done_chunk, future.result()
            raise
        while pending:
            done_chunk, future = pending.popleft()
            yield done_chunk, future.result()


_worker: dict[str, Any] = {}  # a worker process's model, loaded once by _start_worker


def _start_worker(files: dict[str, bytes], name: str, run: RunOptions, parent: int = 0, scores: bool = False) -> None:
    die_with_parent(parent)
    _worker.update(tagger=Tagger.from_files(files, name, run), scores=scores)


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies, however it dies (Linux's
    ``PR_SET_PDEATHSIG``; a no-op elsewhere), and exit now if the parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:
        os._exit(1)


def _label_in_worker(sentences: list[Sentence]) -> list[Prediction]:
    return _label_all(_worker["tagger"], sentences, _worker["scores"])


def _label_all(tagger: Tagger, sentences: list[Sentence], scores: bool = False) -> list[Prediction]:
    """One chunk, tokenized and labelled in one go (one window over the whole chunk)."""
    return list(tagger.predict_sentences(sentences, window=len(sentences) // tagger.run.batch_size + 1, scores=scores))
