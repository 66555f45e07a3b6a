"""Micro-batching: concurrent requests' sentences merged into one model call, with a bounded queue
and a time limit per request (503 with Retry-After beyond either)."""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from fastapi import HTTPException

from tagger.predict import Tagger
from tagger.types import Prediction, Sentence

PIECE_CHARS = 20_000  # a request's texts are labelled in pieces of about this many characters (or max_batch texts)
RETRY_AFTER_S = 1  # the Retry-After of a 503: the queue moves in model calls of milliseconds to seconds
T = TypeVar("T")


def _busy(detail: str) -> HTTPException:
    """The answer to an overloaded service: 503 with Retry-After, so that clients back off."""
    return HTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_S)})


@dataclass(eq=False)
class _Job:
    """One request's model work: sentences to label (merged with other jobs', a piece at a time), or
    ``work`` run alone."""

    size: int  # texts, counted against max_queued
    future: asyncio.Future[Any]
    sentences: list[Sentence] = field(default_factory=list)  # not labelled yet
    scores: bool = False
    work: Callable[[], Any] | None = None
    results: list[Prediction] = field(default_factory=list)  # of the pieces labelled so far


def _chars(sentence: Sentence) -> int:
    return len(sentence.text) if sentence.text is not None else sum(map(len, sentence.tokens)) + len(sentence.tokens)


def _take(job: _Job, texts: int, chars: int) -> list[Sentence]:
    """The next piece of ``job``: at most ``texts`` sentences and about ``chars`` characters (at least one sentence)."""
    taken, used = 0, 0
    while taken < min(texts, len(job.sentences)) and (taken == 0 or used + _chars(job.sentences[taken]) <= chars):
        used += _chars(job.sentences[taken])
        taken += 1
    piece, job.sentences = job.sentences[:taken], job.sentences[taken:]
    return piece


class MicroBatcher:
    """Merges the sentences of concurrent requests into one model call.

    All model work (these batches and anything passed to :meth:`submit` or :meth:`call`) runs on one
    thread, off the event loop. ``max_queued`` bounds the texts accepted and not yet answered (a
    request that would pass it gets 503 at once); ``request_timeout_s`` bounds each request's wait for
    its results (503; a job that has not started is dropped, never run). ``batches_run`` and
    ``texts_run`` count the model calls made and texts labelled.
    """

    def __init__(self, tagger: Tagger, max_batch: int = 256, max_wait_ms: float = 0.0, max_queued: int | None = None,
                 request_timeout_s: float | None = 30.0) -> None:
        if max_batch < 1 or max_wait_ms < 0 or (max_queued is not None and max_queued < 1) or (request_timeout_s or 0) < 0:
            raise ValueError("max_batch and max_queued must be >= 1, max_wait_ms and request_timeout_s >= 0")
        self.tagger = tagger
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queued = 4 * max_batch if max_queued is None else max_queued
        self.request_timeout_s = request_timeout_s or None  # 0: no limit
        self.batches_run = 0
        self.texts_run = 0
        self.texts_pending = 0  # accepted and not yet answered: waiting or being labelled
        self.requests_refused = 0
        self.requests_timed_out = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagger-model")
        self._executor_closed = False
        self._waiting: deque[_Job] = deque()
        self._arrived: asyncio.Event | None = None
        self._batch: list[tuple[_Job, list[Sentence]]] = []  # pieces taken off the queue: being gathered or run
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        self._loop = asyncio.get_running_loop()
        if self._executor_closed:
            self._executor, self._executor_closed = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagger-model"), False
        self._waiting.clear()
        self._arrived = asyncio.Event()
        self._closed = False
        self._worker = asyncio.create_task(self._run(), name="tagger-micro-batcher")

    async def stop(self) -> None:
        """Stop the worker; requests still waiting or being labelled get an error."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.wait({self._worker}, timeout=5)
        for job in [*(job for job, _ in self._batch), *self._waiting]:
            if not job.future.done():
                job.future.set_exception(HTTPException(503, "the service is shutting down"))
        self._worker, self._batch = None, []
        self._waiting.clear()
        self._executor.shutdown(wait=False)
        self._executor_closed = True

    @property
    def running(self) -> bool:
        """Whether the worker runs on the current event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return self._worker is not None and not self._worker.done() and self._loop is loop

    @property
    def jobs_waiting(self) -> int:
        """Requests on the queue, not yet taken into a batch."""
        return len(self._waiting)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the model thread, with no queue limit or time limit."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(function, *args))

    async def submit(self, size: int, function: Callable[..., T], *args: Any) -> T:
        """Run ``function(*args)`` on the model thread in turn with the batches, as a request of
        ``size`` texts: counted against ``max_queued`` and held to ``request_timeout_s``."""
        with self._admitted(size):
            if not self.running:
                return await self._in_time(self.call(function, *args))
            return await self._queued(_Job(size, asyncio.get_running_loop().create_future(), work=partial(function, *args)))

    async def annotate(self, sentences: list[Sentence], scores: bool = False) -> list[Prediction]:
        """Predictions for one request's sentences, in order, labelled together with other requests'."""
        if not sentences:
            return []
        with self._admitted(len(sentences)):
            if not self.running:  # served without the lifespan (a bare ASGI call): no batching, still correct
                return await self._in_time(self.call(self._label, sentences, scores))
            return await self._queued(_Job(len(sentences), asyncio.get_running_loop().create_future(), sentences, scores))

    @contextmanager
    def _admitted(self, size: int) -> Iterator[None]:
        """Count ``size`` texts as pending until the block ends; 503 if that passes ``max_queued``.

        With nothing pending any request is accepted, so one larger than ``max_queued`` still runs alone.
        """
        if self.texts_pending and self.texts_pending + size > self.max_queued:
            self.requests_refused += 1
            raise _busy(f"the service is busy: {self.texts_pending} texts are pending and max_queued is {self.max_queued}; "
                        "retry later")
        self.texts_pending += size
        try:
            yield
        finally:
            self.texts_pending -= size

    async def _in_time(self, awaitable: Awaitable[T]) -> T:
        """``awaitable``'s result, or 503 once ``request_timeout_s`` has passed (``awaitable`` is cancelled)."""
        timeout = self.request_timeout_s
        if timeout is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError:
            self.requests_timed_out += 1
            raise _busy(f"the request timed out: no results within {timeout:g} s (request_timeout_s); "
                        "retry later, or send fewer texts at a time") from None

    async def _queued(self, job: _Job) -> Any:
        """Put ``job`` on the queue and wait for its result; if it times out first, take it off."""
        assert self._arrived is not None
        self._waiting.append(job)
        self._arrived.set()
        try:
            return await self._in_time(job.future)
        finally:
            if job.future.cancelled() and job in self._waiting:  # timed out, or its client left, before it started
                self._waiting.remove(job)

    def _label(self, sentences: list[Sentence], scores: bool) -> list[Prediction]:
        predictions = list(self.tagger.predict_sentences(sentences, scores=scores))
        self.batches_run += 1
        self.texts_run += len(sentences)
        return predictions

    async def _job_by(self, deadline: float | None) -> bool:
        """Wait until a job is queued, at most until ``deadline`` (loop time; None: for ever); whether one is."""
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while not self._waiting:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def _next_pieces(self) -> list[tuple[_Job, list[Sentence]]]:
        """The next batch: a piece of the first job, then the jobs that queued up behind it or come
        within max_wait, whole, while they fit (max_batch texts, PIECE_CHARS characters). A ``work``
        job runs alone; a job that does not fit starts the next batch. A job with sentences left
        goes to the back of the queue, so a large request takes turns with the others and a small
        one waits about one piece, not the whole large request."""
        await self._job_by(None)
        first = self._waiting.popleft()
        self._batch = [(first, _take(first, self.max_batch, PIECE_CHARS) if first.work is None else [])]
        texts, chars = len(self._batch[0][1]), sum(map(_chars, self._batch[0][1]))
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while first.work is None and texts < self.max_batch and await self._job_by(deadline):
            job = self._waiting[0]
            if job.work is not None or texts + len(job.sentences) > self.max_batch or chars + sum(map(_chars, job.sentences)) > PIECE_CHARS:
                break
            self._batch.append((self._waiting.popleft(), job.sentences))
            job.sentences = []
            texts, chars = texts + len(self._batch[-1][1]), chars + sum(map(_chars, self._batch[-1][1]))
        if first.sentences and not first.future.done():
            self._waiting.append(first)
        return self._batch

    async def _run(self) -> None:
        while not self._closed:
            pieces = [(job, piece) for job, piece in await self._next_pieces() if not job.future.done()]  # done: timed out or left
            if pieces:  # no await between this check and the model thread taking the pieces
                await self._run_pieces(pieces)
            self._batch = []

    async def _run_pieces(self, pieces: list[tuple[_Job, list[Sentence]]]) -> None:
        """Run the pieces on the model thread; hand each job its results once its last piece is done,
        or the error to every job in the batch."""
        try:
            results = await self.call(self._work, pieces)
        except Exception as error:  # noqa: BLE001 - handed to the requests; the worker goes on
            results = [error] * len(pieces)
        for (job, _), result in zip(pieces, results):
            if job.future.done():
                continue
            if isinstance(result, Exception):
                job.future.set_exception(result)
                if job in self._waiting:
                    self._waiting.remove(job)
            elif job.work is not None:
                job.future.set_result(result)
            else:
                job.results.extend(result)
                if not job.sentences:
                    job.future.set_result(job.results)

    def _work(self, pieces: list[tuple[_Job, list[Sentence]]]) -> list[Any]:
        """On the model thread: each piece's result (a ``work`` job alone, or the pieces' sentences in one model call)."""
        first = pieces[0][0]
        if first.work is not None:
            return [first.work()]
        predictions = self._label([sentence for _, piece in pieces for sentence in piece], any(job.scores for job, _ in pieces))
        results, start = [], 0
        for job, piece in pieces:
            mine = predictions[start : start + len(piece)]
            start += len(piece)
            if not job.scores:
                for prediction in mine:
                    prediction.scores = {}
            results.append(mine)
        return results
