"""The HTTP service: a FastAPI app around one model, with concurrent requests micro-batched.

Requests put their texts on a queue; one worker takes up to ``max_batch`` texts: all that queued
up while the model was busy, then whatever arrives within ``max_wait_ms`` (0 by default: under
load the batches form by themselves, and a lone request does not wait). It labels them in one
call to the model in a worker thread and hands each request its own results. The model
directory is fixed when the app is made.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from tagger.predict import Tagger
from tagger.types import Prediction, Sentence

TOKEN_ENV = "BIRNN_TAGGER_TOKEN"


@dataclass
class Limits:
    max_texts: int = 1000  # texts per request
    max_chars: int = 100_000  # characters per text (tokens of a token list count together)
    max_tokens: int = 10_000  # tokens per token list
    max_body_bytes: int = 10 * 1024 * 1024


class AnnotateRequest(BaseModel):
    texts: list[Union[str, list[str]]] = Field(min_length=1, description="Raw texts, or token lists.")
    tasks: list[str] | None = Field(default=None, description="Tasks to return; default all.")
    scores: bool = Field(default=False, description="Each token's probability of its label.")


class FillMaskRequest(BaseModel):
    texts: list[Union[str, list[str]]] = Field(min_length=1, description='Texts with "[MASK]" for each blank.')
    top_k: int = Field(default=5, ge=1, le=100)


@dataclass
class MicroBatcher:
    """Merges concurrent requests' sentences into one model call."""

    tagger: Tagger
    max_batch: int = 256
    max_wait_ms: float = 0.0
    batches_run: int = 0
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None

    async def label(self, sentences: list[Sentence], scores: bool) -> list[Prediction]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self.queue.put((sentences, scores, future))
        return await future

    async def run(self) -> None:
        while True:
            first = await self.queue.get()
            jobs, size = [first], len(first[0])
            deadline = asyncio.get_running_loop().time() + self.max_wait_ms / 1000
            while size < self.max_batch:
                remaining = deadline - asyncio.get_running_loop().time()
                try:  # what queued up while the model was busy joins at once; then wait up to max_wait_ms
                    job = self.queue.get_nowait() if remaining <= 0 or not self.queue.empty() else await asyncio.wait_for(self.queue.get(), remaining)
                except (asyncio.TimeoutError, asyncio.QueueEmpty):
                    break
                jobs.append(job)
                size += len(job[0])
            await self._run_jobs(jobs)

    async def _run_jobs(self, jobs: list[tuple[list[Sentence], bool, asyncio.Future]]) -> None:
        sentences = [s for job in jobs for s in job[0]]
        scores = any(job[1] for job in jobs)
        try:
            predictions = await asyncio.to_thread(lambda: list(self.tagger.predict_sentences(sentences, scores=scores)))
        except Exception as error:  # a model failure answers its requests, and the worker goes on
            for *_, future in jobs:
                if not future.done():
                    future.set_exception(error)
            return
        self.batches_run += 1
        start = 0
        for job_sentences, _, future in jobs:
            if not future.done():
                future.set_result(predictions[start : start + len(job_sentences)])
            start += len(job_sentences)


def create_app(
    model: str | Path | Tagger,
    *,
    max_batch: int = 256,
    max_wait_ms: float = 0.0,
    limits: Limits | None = None,
    token: str | None = None,
) -> FastAPI:
    """The app for one model. ``token`` (default: the ``BIRNN_TAGGER_TOKEN`` environment variable),
    when set, is required as a bearer token on every endpoint but ``/health``."""
    tagger = model if isinstance(model, Tagger) else Tagger.load(model)
    name = Path(model).name if not isinstance(model, Tagger) else "model"
    limits = limits or Limits()
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        batcher = MicroBatcher(tagger, max_batch, max_wait_ms)
        batcher.task = asyncio.create_task(batcher.run())
        app.state.batcher = batcher
        yield
        batcher.task.cancel()

    app = FastAPI(title="birnn-tagger", description="Sequence labelling with a deep BiLSTM/GRU tagger.", lifespan=lifespan)
    bearer = HTTPBearer(auto_error=False)

    def authorized(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token and (credentials is None or not hmac.compare_digest(credentials.credentials.encode(), token.encode())):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)
        if request.method in ("POST", "PUT", "PATCH") and len(await request.body()) > limits.max_body_bytes:
            return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    def check_texts(texts: list[str | list[str]]) -> list[Sentence]:
        if len(texts) > limits.max_texts:
            raise HTTPException(422, f"texts: {len(texts)} texts; at most {limits.max_texts} per request")
        sentences = []
        for n, item in enumerate(texts):
            size = len(item) if isinstance(item, str) else sum(map(len, item))
            if size > limits.max_chars:
                raise HTTPException(422, f"texts[{n}]: {size} characters; at most {limits.max_chars}")
            if isinstance(item, list):
                if len(item) > limits.max_tokens:
                    raise HTTPException(422, f"texts[{n}]: {len(item)} tokens; at most {limits.max_tokens}")
                if not all(token.strip() for token in item):
                    raise HTTPException(422, f"texts[{n}]: tokens must be non-empty and not only whitespace")
            sentences.append(Sentence([], text=item) if isinstance(item, str) else Sentence(list(item)))
        return sentences

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info", dependencies=[Depends(authorized)])
    async def info() -> dict[str, Any]:
        return {
            "model": name,
            "lang": tagger.config.lang,
            "tasks": {task: {"labels": tagger.vocab.labels[task].items, "spans": bool(tagger.config.tasks[task].scheme)} for task in tagger.tasks},
            "fill_mask": tagger.model.masked_lm is not None,
            "scores": tagger.meta.get("scores", {}),
            "versions": tagger.meta.get("versions", {}),
        }

    @app.post("/annotate", dependencies=[Depends(authorized)])
    async def annotate(body: AnnotateRequest, request: Request) -> dict[str, Any]:
        unknown = [task for task in body.tasks or [] if task not in tagger.tasks]
        if unknown:
            raise HTTPException(422, f"tasks: unknown {unknown}; the model's tasks: {tagger.tasks}")
        sentences = check_texts(body.texts)
        batcher = getattr(request.app.state, "batcher", None)
        if batcher is None:  # served without the lifespan (e.g. a bare ASGI test client): no batching
            predictions = await asyncio.to_thread(lambda: list(tagger.predict_sentences(sentences, scores=body.scores)))
        else:
            predictions = await batcher.label(sentences, body.scores)
        results = []
        for prediction in predictions:
            record = prediction.to_dict()
            if body.tasks is not None:
                record["tags"] = {t: v for t, v in record["tags"].items() if t in body.tasks}
                record["spans"] = {t: v for t, v in record["spans"].items() if t in body.tasks}
                if "scores" in record:
                    record["scores"] = {t: v for t, v in record["scores"].items() if t in body.tasks}
            if not body.scores:
                record.pop("scores", None)
            results.append(record)
        return {"results": results}

    @app.post("/fill-mask", dependencies=[Depends(authorized)])
    async def fill_mask(body: FillMaskRequest) -> dict[str, Any]:
        if tagger.model.masked_lm is None:
            raise HTTPException(404, "this model has no masked-token head (train it with masked_lm.weight > 0 or tagger pretrain)")
        check_texts(body.texts)
        filled = await asyncio.to_thread(tagger.fill_mask, body.texts, body.top_k)
        return {"results": [f.to_dict() for f in filled]}

    return app
