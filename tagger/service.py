"""The HTTP service: a FastAPI app around one model, with concurrent requests micro-batched.

``create_app(model_dir)`` builds the app; ``python serve.py --model DIR`` runs it on uvicorn.
Concurrent ``/annotate`` requests put their texts on one queue; a worker takes up to ``max_batch``
texts: all that queued up while the model was busy, then whatever arrives within ``max_wait_ms``
(0 by default: under load batches form by themselves, and a lone request does not wait). It labels
them in one call to the model on a single model thread and hands each request its own results.
``/fill-mask`` requests wait in the same queue and run alone. Overload gets 503 with Retry-After,
never an endless wait: a request that would take the texts pending past ``max_queued`` is refused at
once, and one whose results are not ready within ``request_timeout_s`` is answered (if it had not
started, it leaves the queue). The model directory is fixed when the app is made and never comes
from a request.
"""

import asyncio
import hmac
import json
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field, StrictBool, StringConstraints, Tag, WithJsonSchema,
                      create_model)

from tagger.errors import TaggerError
from tagger.predict import BLANK, Tagger
from tagger.types import Prediction, Sentence

TOKEN_ENV = "BIRNN_TAGGER_TOKEN"  # bearer token required on every endpoint but /health when set
OPEN_PATHS = frozenset({"/health"})
BUSY: dict[int | str, dict[str, Any]] = {
    400: {"description": "A malformed request: an invalid Content-Length header, or input the model cannot take."},
    413: {"description": "The request body is larger than max_body_bytes."},
    503: {"description": "Busy: the queue is full (max_queued) or the request timed out (request_timeout_s); retry after Retry-After."}}
PIECE_CHARS = 20_000  # a request's texts are labelled in pieces of about this many characters (or max_batch texts)
T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# Response bodies (request bodies depend on the app's limits and tasks: see _request_models)


class SpanOut(BaseModel):
    start: int = Field(description="First token of the span.")
    end: int = Field(description="Token after the span (exclusive).")
    label: str
    start_char: int | None = Field(None, description="Character offsets, for raw-text input.")
    end_char: int | None = None


class PredictionOut(BaseModel):
    tokens: list[str]
    text: str | None = Field(None, description="The input text (raw-text input only).")
    offsets: list[tuple[int, int]] | None = Field(None, description="Each token's [start, end) characters (raw text only).")
    tags: dict[str, list[str]] = Field(description="Task -> one label per token (span tasks in BIO).")
    spans: dict[str, list[SpanOut]] = Field(description="Span task -> its spans.")
    scores: dict[str, list[float]] | None = Field(None, description="Task -> each token's probability of its label.")


class AnnotateResponse(BaseModel):
    results: list[PredictionOut]


class CandidateOut(BaseModel):
    word: str
    probability: float


class BlankOut(BaseModel):
    position: int = Field(description="Token index of the blank.")
    candidates: list[CandidateOut]


class FilledOut(BaseModel):
    tokens: list[str]
    blanks: list[BlankOut]


class FillMaskResponse(BaseModel):
    results: list[FilledOut]


class TaskInfo(BaseModel):
    decoder: str
    spans: bool = Field(description="A span task (tags in BIO, spans listed).")
    labels: list[str]


class InfoResponse(BaseModel):
    model: str = Field(description="The model directory's name.")
    lang: str
    tasks: dict[str, TaskInfo]
    fill_mask: bool = Field(description="Whether POST /fill-mask is available.")
    scores: dict[str, Any] = Field(description="Scores recorded at training time (meta.json).")
    versions: dict[str, str]
    created: str | None = None
    parameters: int | None = None
    limits: dict[str, Union[int, float, None]] = Field(description="Request limits; request_timeout_s null: none.")


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


# ---------------------------------------------------------------------------------------------
# Micro-batching, with a bounded queue and a time limit per request

RETRY_AFTER_S = 1  # the Retry-After of a 503: the queue moves in model calls of milliseconds to seconds


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


# ---------------------------------------------------------------------------------------------
# Limits and the token check, before any route runs


@dataclass(frozen=True)
class Limits:
    max_texts: int = 1000  # texts per request
    max_chars: int = 100_000  # characters per text (a token list's tokens count together)
    max_tokens: int = 10_000  # tokens per token-list item
    max_body_bytes: int = 10 * 1024 * 1024  # request body
    max_blanks: int = 1000  # [MASK]s per fill-mask request


class _Guard:
    """ASGI middleware: the bearer token (every path but /health), then the body size (413)."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        if self.token is not None and scope.get("path") not in OPEN_PATHS and not self._authorized(headers.get(b"authorization")):
            return await _send_json(send, 401, {"detail": "a valid bearer token is required (Authorization: Bearer <token>)"},
                                    [(b"www-authenticate", b"Bearer")])
        too_big = {"detail": f"request body too large: at most {self.max_body_bytes} bytes"}
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await _send_json(send, 400, {"detail": "invalid Content-Length header"})
            if int(declared) > self.max_body_bytes:
                return await _send_json(send, 413, too_big)
        chunks, size, more = [], 0, True
        while more:  # read the body here, never more than the limit, then replay it to the app
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return await _send_json(send, 413, too_big)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body: dict[str, Any] | None = {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        async def replay() -> dict:
            nonlocal body
            if body is not None:
                message, body = body, None
                return message
            return await receive()

        return await self.app(scope, replay, send)

    def _authorized(self, header: bytes | None) -> bool:
        scheme, _, credentials = (header or b"").partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token or b"")


async def _send_json(send: Callable[[dict], Awaitable[None]], status: int, content: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = _dumps(content)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def _dumps(content: Any) -> bytes:
    """JSON as UTF-8, with non-ASCII escaped when the text cannot be UTF-8 (lone surrogates)."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class SafeJSONResponse(JSONResponse):
    """JSONResponse that never fails on text that cannot be encoded as UTF-8."""

    def render(self, content: Any) -> bytes:
        return _dumps(content)


# ---------------------------------------------------------------------------------------------
# Request bodies


def _valid_unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"not valid Unicode text (unpaired surrogate at character {error.start})") from None
    return text


def _not_blank(text: str) -> str:
    """The rule ``tagger annotate`` follows too: a text with nothing but spaces has nothing to label."""
    if not text.strip():
        raise ValueError("empty text: nothing to label")
    return text


def _item_kind(item: Any) -> str | None:
    return "text" if isinstance(item, str) else "tokens" if isinstance(item, list) else None


def _request_models(tasks: list[str], limits: Limits) -> tuple[type[BaseModel], type[BaseModel]]:
    """AnnotateRequest and FillMaskRequest for these limits and tasks (so /docs shows them)."""

    def tokens_fit(tokens: list[str]) -> list[str]:
        if sum(map(len, tokens)) > limits.max_chars:
            raise ValueError(f"the tokens have more than {limits.max_chars} characters together")
        return tokens

    def known_task(name: str) -> str:
        if name not in tasks:
            raise ValueError(f"unknown task {name!r}; this model's tasks: {', '.join(tasks)}")
        return name

    text = Annotated[str, StringConstraints(max_length=limits.max_chars), AfterValidator(_valid_unicode), AfterValidator(_not_blank)]
    token = Annotated[str, StringConstraints(min_length=1, max_length=limits.max_chars), AfterValidator(_valid_unicode)]
    token_list = Annotated[list[token], Field(min_length=1, max_length=limits.max_tokens), AfterValidator(tokens_fit)]  # type: ignore[valid-type]
    item = Annotated[
        Union[Annotated[text, Tag("text")], Annotated[token_list, Tag("tokens")]],  # type: ignore[valid-type]
        Discriminator(_item_kind, custom_error_type="text_or_tokens", custom_error_message="each text is a string or a list of token strings"),
    ]
    texts = Annotated[list[item], Field(min_length=1, max_length=limits.max_texts)]  # type: ignore[valid-type]
    task = Annotated[str, AfterValidator(known_task), WithJsonSchema({"type": "string", "enum": tasks})]
    config = ConfigDict(extra="forbid")
    annotate = create_model(
        "AnnotateRequest",
        __config__=config,
        texts=(texts, Field(description=f"Raw texts (tokenized by the service) or token lists; 1 to {limits.max_texts}.")),
        tasks=(Union[Annotated[list[task], Field(max_length=100)], None],  # type: ignore[valid-type]
               Field(None, description="Tasks to return (default: all).")),
        scores=(StrictBool, Field(False, description="Also give each token's probability of its label (true or false).")),
    )
    fill_mask = create_model(
        "FillMaskRequest",
        __config__=config,
        texts=(texts, Field(description=f'Texts or token lists with "{BLANK}" for each missing word.')),
        top_k=(int, Field(5, ge=1, le=100, description="Candidates per blank.")),
    )
    return annotate, fill_mask


# ---------------------------------------------------------------------------------------------
# The app


def create_app(
    model: str | Path | Tagger,
    *,
    max_batch: int = 256,
    max_wait_ms: float = 0.0,
    max_texts: int = Limits.max_texts,
    max_chars: int = Limits.max_chars,
    max_tokens: int = Limits.max_tokens,
    max_body_bytes: int = Limits.max_body_bytes,
    max_blanks: int = Limits.max_blanks,
    max_queued: int | None = None,
    request_timeout_s: float | None = 30.0,
    token: str | None = None,
    precision: str = "fp32",
) -> FastAPI:
    """The service for one model (a model directory, loaded now, or a loaded Tagger).

    ``max_queued``: texts accepted and not yet answered, at most (503 beyond); None gives
    ``max(4 * max_batch, max_texts)``: about four model calls' worth (one running, three waiting),
    and never less than one full request. ``request_timeout_s``: a request's results not ready in
    that time get 503 (0 or None: no limit). ``token``: the bearer token required on every endpoint
    but ``/health``; None reads the ``BIRNN_TAGGER_TOKEN`` environment variable, and an empty token
    turns the check off. ``precision``: how a model directory is loaded (``Tagger.load``: fp32, int8
    or int8-all); a loaded Tagger keeps its own.
    """
    tagger = model if isinstance(model, Tagger) else Tagger.load(model, precision=precision)
    name = tagger.info.name
    limits = Limits(max_texts, max_chars, max_tokens, max_body_bytes, max_blanks)
    token = os.environ.get(TOKEN_ENV) if token is None else token
    max_queued = max(4 * max_batch, max_texts) if max_queued is None else max_queued
    batcher = MicroBatcher(tagger, max_batch, max_wait_ms, max_queued, request_timeout_s)
    AnnotateRequest, FillMaskRequest = _request_models(list(tagger.tasks), limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="birnn-tagger",
        version=str(tagger.meta.get("versions", {}).get("birnn_tagger", "")) or "0",
        description=f"Sequence labelling with a deep BiLSTM/GRU tagger: model `{name}`, tasks {', '.join(tagger.tasks)}.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.batcher = batcher
    app.state.limits = limits
    app.add_middleware(_Guard, token=token or None, max_body_bytes=max_body_bytes)
    # Documents the token in the OpenAPI schema; the check itself is in _Guard (which also covers /docs).
    protected = [Depends(HTTPBearer(auto_error=False, description=f"Required when {TOKEN_ENV} is set."))] if token else []

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in error.errors()]
        return SafeJSONResponse({"detail": details}, status_code=422)

    @app.exception_handler(TaggerError)
    async def tagger_error(request: Request, error: TaggerError) -> JSONResponse:
        return SafeJSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> JSONResponse:
        return SafeJSONResponse({"detail": f"internal error: {type(error).__name__}"}, status_code=500)

    @app.get("/health", response_model=HealthResponse, summary="Liveness (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info", response_model=InfoResponse, dependencies=protected, summary="The model: tasks, labels, scores, versions")
    async def info() -> dict[str, Any]:
        meta = tagger.info.meta
        return {
            "model": name,
            "lang": tagger.info.config.lang,
            "tasks": {task: {"decoder": spec.decoder, "spans": spec.is_span, "labels": list(spec.labels)} for task, spec in tagger.tasks.items()},
            "fill_mask": tagger.has_masked_lm,
            "scores": meta.get("scores", {}),
            "versions": {k: str(v) for k, v in meta.get("versions", {}).items()},
            "created": meta.get("created"),
            "parameters": meta.get("parameters"),
            "limits": {**asdict(limits), "max_batch": max_batch, "max_queued": batcher.max_queued,
                       "request_timeout_s": batcher.request_timeout_s},
        }

    @app.post("/annotate", response_model=AnnotateResponse, response_model_exclude_none=True, dependencies=protected,
              responses=BUSY, summary="Label texts or token lists")
    async def annotate(body: AnnotateRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        sentences = [Sentence([], text=item) if isinstance(item, str) else Sentence(list(item)) for item in body.texts]
        predictions = await batcher.annotate(sentences, body.scores)
        results = [prediction.to_dict() for prediction in predictions]
        if body.tasks is not None:
            for record in results:
                for key in ("tags", "spans", "scores"):
                    if key in record:
                        record[key] = {task: values for task, values in record[key].items() if task in body.tasks}
        return {"results": results}

    @app.post("/fill-mask", response_model=FillMaskResponse, dependencies=protected,
              responses={404: {"description": "The model has no masked-token head."}, **BUSY},
              summary=f"Likeliest words for each {BLANK}")
    async def fill_mask(body: FillMaskRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        if not tagger.has_masked_lm:
            raise HTTPException(404, "this model has no masked-token head, so /fill-mask is not available "
                                     "(train with masked_lm.weight > 0 or with tagger pretrain)")
        blanks = sum(item.count(BLANK) for item in body.texts)  # in a text, or as tokens
        if blanks > limits.max_blanks:
            raise HTTPException(422, f"texts: {blanks} {BLANK} blanks; at most {limits.max_blanks} per request")
        filled = await batcher.submit(len(body.texts), tagger.fill_mask, list(body.texts), body.top_k)
        return {"results": [sentence.to_dict() for sentence in filled]}

    return app
