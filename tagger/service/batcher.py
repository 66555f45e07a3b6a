"""Micro-batching: concurrent requests' sentences merged into one model call, with clients served in
turn, bounded queues (all clients together and each client) and a time limit per request (503 with
Retry-After beyond any)."""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from fastapi import HTTPException

from tagger.core.types import Prediction, Sentence
from tagger.model.predict import Tagger
from tagger.service.settings import ServiceSettings

PIECE_CHARS = 20_000  # a request's texts are labelled in pieces of about this many characters (or max_batch texts)
RETRY_AFTER_S = 1  # the Retry-After of a 503: the queue moves in model calls of milliseconds to seconds
T = TypeVar("T")


def _busy(detail: str) -> HTTPException:
    """The answer to an overloaded service: 503 with Retry-After, so that clients back off."""
    return HTTPException(503, detail, headers={"Retry-After": str(RETRY_AFTER_S)})


@dataclass(eq=False)
class _Job:
    """One request's model work, done a piece at a time: sentences to label (a piece merged with
    other jobs' into one model call), or inputs that ``work`` maps to one result each (a piece alone).
    Once the request has its answer (or its 503), the pieces not started are dropped."""

    size: int  # texts, counted against max_queued
    future: asyncio.Future[Any]
    items: list[Any] = field(default_factory=list)  # not done yet: Sentences, or inputs of ``work``
    scores: bool = False
    work: Callable[[list[Any]], list[Any]] | None = None
    finish: Callable[[list[Prediction]], list[Any]] | None = None  # on the model thread, for each piece's predictions
    client: str = ""  # who sent the request: the queue serves clients in turn
    results: list[Any] = field(default_factory=list)  # of the pieces done so far


def _chars(item: Any) -> int:
    """An item's size in characters: a Sentence, a text, or a token list (a space between tokens)."""
    if isinstance(item, Sentence):
        return len(item.text) if item.text is not None else _chars(item.tokens)
    return len(item) if isinstance(item, str) else sum(map(len, item)) + len(item)


def _take(job: _Job, texts: int, chars: int) -> list[Any]:
    """The next piece of ``job``: at most ``texts`` items and about ``chars`` characters (at least one item)."""
    taken, used = 0, 0
    while taken < min(texts, len(job.items)) and (taken == 0 or used + _chars(job.items[taken]) <= chars):
        used += _chars(job.items[taken])
        taken += 1
    piece, job.items = job.items[:taken], job.items[taken:]
    return piece


class _Turns:
    """The jobs waiting: a line per client, the clients served in turn (round robin). A client that
    is served goes to the back of the turns, and a job with work left to the back of its client's
    line, so that a client's requests take turns too."""

    def __init__(self) -> None:
        self._lines: dict[str, deque[_Job]] = {}  # in turn order; a client with no job waiting has no line

    def __len__(self) -> int:
        return sum(map(len, self._lines.values()))

    def __bool__(self) -> bool:
        return bool(self._lines)

    def __iter__(self) -> Iterator[_Job]:
        return (job for line in self._lines.values() for job in line)

    def append(self, job: _Job) -> None:
        self._lines.setdefault(job.client, deque()).append(job)

    def first(self) -> _Job:
        """The job served next: the first job of the client whose turn it is."""
        return self._lines[next(iter(self._lines))][0]

    def popleft(self) -> _Job:
        """Take :meth:`first` off; its client goes to the back of the turns."""
        return self.take(self.first())

    def fitting(self, texts: int, chars: int) -> _Job | None:
        """The first job, in turn order, of the clients' first jobs, that fits whole in ``texts``
        texts and ``chars`` characters and runs in a batch (not ``work``); None if none does."""
        for line in self._lines.values():
            job = line[0]
            if job.work is None and len(job.items) <= texts and sum(map(_chars, job.items)) <= chars:
                return job
        return None

    def take(self, job: _Job) -> _Job:
        """Take off ``job``, the first of its client's line; the client goes to the back of the turns."""
        line = self._lines.pop(job.client)
        line.popleft()
        if line:
            self._lines[job.client] = line
        return job

    def remove(self, job: _Job) -> None:
        line = self._lines.get(job.client)
        if line is not None and job in line:
            line.remove(job)
            if not line:
                del self._lines[job.client]

    def clear(self) -> None:
        self._lines.clear()


class MicroBatcher:
    """Merges the sentences of concurrent requests into one model call.

    All model work (these batches, the pieces of :meth:`map` and anything passed to :meth:`call`)
    runs on one thread, off the event loop, a piece at a time: at most ``max_batch`` texts and about
    ``PIECE_CHARS`` characters. Clients (the ``client`` of a request: its peer address) take turns,
    a piece each, so one client sending large requests back to back delays another's small request
    by about one piece, not by its whole queue. ``max_queued`` bounds the texts accepted and not yet
    answered (a request that would pass it gets 503 at once); a client with ``max_queued_per_client``
    texts or more pending gets 503 for any further request, which :meth:`refusal` tells before the
    request's body is even parsed; ``request_timeout_s`` bounds each request's wait for its results
    (503; the pieces it has not started are dropped, never run). ``batches_run`` and ``texts_run``
    count the labelling model calls made and texts labelled.
    """

    def __init__(self, tagger: Tagger, settings: ServiceSettings = ServiceSettings()) -> None:
        self.tagger = tagger
        self.max_batch = settings.max_batch
        self.max_wait = settings.max_wait_ms / 1000
        self.max_queued = settings.queue_limit
        self.max_queued_per_client = settings.client_queue_limit
        self.request_timeout_s = settings.request_timeout_s or None  # 0: no limit
        self.batches_run = 0
        self.texts_run = 0
        self.texts_pending = 0  # accepted and not yet answered: waiting or being labelled
        self._pending_by_client: dict[str, int] = {}
        self.requests_refused = 0
        self.requests_timed_out = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tagger-model")
        self._executor_closed = False
        self._waiting = _Turns()
        self._arrived: asyncio.Event | None = None
        self._batch: list[tuple[_Job, list[Any]]] = []  # pieces taken off the queue: being gathered or run
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

    async def map(self, items: list[Any], work: Callable[[list[Any]], list[T]], client: str = "") -> list[T]:
        """``work`` over ``items`` on the model thread, a piece at a time in turn with other requests
        (each piece alone), as one request of ``client``: its results in order. ``work`` maps a list
        of items to one result each."""
        return await self._request(_Job(len(items), asyncio.get_running_loop().create_future(), list(items), work=work, client=client))

    async def annotate(self, sentences: list[Sentence], scores: bool = False, client: str = "",
                       finish: Callable[[list[Prediction]], list[Any]] | None = None) -> list[Any]:
        """Predictions for one request's sentences, in order, labelled together with other requests';
        or, with ``finish``, what it makes of each piece's predictions on the model thread (their
        JSON, say: so that a large answer is built in its client's turns, not on the event loop)."""
        job = _Job(len(sentences), asyncio.get_running_loop().create_future(), list(sentences), scores, finish=finish, client=client)
        return await self._request(job)

    async def _request(self, job: _Job) -> list[Any]:
        """``job``'s results: admitted, queued in its client's turn and held to ``request_timeout_s``."""
        if not job.items:
            return []
        with self._admitted(job.size, job.client):
            if not self.running:  # served without the lifespan (a bare ASGI call): no batching, still in pieces
                return await self._in_time(self._alone(job))
            return await self._queued(job)

    async def _alone(self, job: _Job) -> list[Any]:
        """``job`` done piece by piece on the model thread; once cancelled (timed out), no further piece starts."""
        while job.items:
            job.results.extend((await self.call(self._work, [(job, _take(job, self.max_batch, PIECE_CHARS))]))[0])
        return job.results

    def refusal(self, client: str, size: int = 1) -> str | None:
        """Why a request of ``size`` texts from ``client`` gets 503 now (None: it does not). With
        ``size`` 1 (any request has a text) this is known before the request's body is read, so a
        client that keeps sending while at its limit costs the service almost nothing.

        A client with max_queued_per_client texts or more pending gets 503. A request that would
        pass max_queued gets 503 unless nothing is pending, so one larger than it still runs alone.
        """
        mine = self._pending_by_client.get(client, 0)
        if mine >= self.max_queued_per_client:
            return (f"too many texts from this client: {mine} are pending and max_queued_per_client is "
                    f"{self.max_queued_per_client}; wait for your answers before sending more")
        if self.texts_pending and self.texts_pending + size > self.max_queued:
            return f"the service is busy: {self.texts_pending} texts are pending and max_queued is {self.max_queued}; retry later"
        return None

    @contextmanager
    def _admitted(self, size: int, client: str) -> Iterator[None]:
        """Count ``size`` texts as pending (for ``client`` and in all) until the block ends; 503 if
        :meth:`refusal` says so."""
        detail = self.refusal(client, size)
        if detail is not None:
            self.requests_refused += 1
            raise _busy(detail)
        mine = self._pending_by_client.get(client, 0)
        self.texts_pending += size
        self._pending_by_client[client] = mine + size
        try:
            yield
        finally:
            self.texts_pending -= size
            self._pending_by_client[client] -= size
            if not self._pending_by_client[client]:
                del self._pending_by_client[client]

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
            if job.future.cancelled():  # timed out, or its client left: its pieces not started are dropped
                self._waiting.remove(job)

    def _label(self, sentences: list[Sentence], scores: bool) -> list[Prediction]:
        predictions = list(self.tagger.predict_sentences(sentences, scores=scores))
        self.batches_run += 1
        self.texts_run += len(sentences)
        return predictions

    async def _job_by(self, deadline: float | None) -> bool:
        """Wait until a job is queued, at most until ``deadline`` (loop time; None: for ever); whether one is."""
        while not self._waiting:
            if not await self._arrival_by(deadline):
                return False
        return True

    async def _arrival_by(self, deadline: float | None) -> bool:
        """Wait for the next job to be queued, at most until ``deadline`` (loop time; None: for ever); whether one was."""
        assert self._arrived is not None
        remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
        if remaining is not None and remaining <= 0:
            return False
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), remaining)
        except asyncio.TimeoutError:
            return False
        return True

    async def _next_pieces(self) -> list[tuple[_Job, list[Any]]]:
        """The next batch: a piece of the first job of the client whose turn it is, then, whole, the
        first jobs of the clients next in turn that fit (max_batch texts, PIECE_CHARS characters),
        also those that come within max_wait. A ``work`` job's piece runs alone. A client served goes
        to the back of the turns, and a job with work left to the back of its client's line; a job
        that does not fit keeps its client's place, first for the next batch. So a large request
        takes turns with the other requests, and a small one waits about one piece per client ahead
        of it (the batch being labelled, then the large requests' pieces first in turn), however
        much the others have queued."""
        await self._job_by(None)
        first = self._waiting.popleft()
        self._batch = [(first, _take(first, self.max_batch, PIECE_CHARS))]
        texts, chars = len(self._batch[0][1]), sum(map(_chars, self._batch[0][1]))
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while first.work is None and texts < self.max_batch:
            job = self._waiting.fitting(self.max_batch - texts, PIECE_CHARS - chars)
            if job is None:
                if await self._arrival_by(deadline):
                    continue
                break
            self._batch.append((self._waiting.take(job), job.items))
            job.items = []
            texts, chars = texts + len(self._batch[-1][1]), chars + sum(map(_chars, self._batch[-1][1]))
        if first.items and not first.future.done():
            self._waiting.append(first)
        return self._batch

    async def _run(self) -> None:
        while not self._closed:
            pieces = [(job, piece) for job, piece in await self._next_pieces() if not job.future.done()]  # done: timed out or left
            if pieces:  # no await between this check and the model thread taking the pieces
                await self._run_pieces(pieces)
            self._batch = []

    async def _run_pieces(self, pieces: list[tuple[_Job, list[Any]]]) -> None:
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
                self._waiting.remove(job)
            else:
                job.results.extend(result)
                if not job.items:
                    job.future.set_result(job.results)

    def _work(self, pieces: list[tuple[_Job, list[Any]]]) -> list[list[Any] | Exception]:
        """On the model thread: each piece's results (a ``work`` job's piece alone, or the pieces'
        sentences in one model call, each job's then finished: an error there is that job's alone)."""
        first, piece = pieces[0]
        if first.work is not None:
            return [first.work(piece)]
        predictions = self._label([sentence for _, piece in pieces for sentence in piece], any(job.scores for job, _ in pieces))
        results, start = [], 0
        for job, piece in pieces:
            mine = predictions[start : start + len(piece)]
            start += len(piece)
            if not job.scores:
                for prediction in mine:
                    prediction.scores = {}
            results.append(_finished(job, mine))
        return results


def _finished(job: _Job, predictions: list[Prediction]) -> list[Any] | Exception:
    """``job.finish`` of a piece's predictions (the predictions themselves without one), or its error."""
    if job.finish is None:
        return predictions
    try:
        return job.finish(predictions)
    except Exception as error:  # noqa: BLE001 - handed to this job's request only
        return error
