"""The app: ``create_app`` builds the FastAPI service around one model, and its routes."""

import os
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from tagger.core.errors import ModelFormatError, TaggerError
from tagger.core.runtime import RunOptions
from tagger.core.tasks import NO_TASKS
from tagger.core.types import Prediction, Sentence
from tagger.model.predict import BLANK, Tagger
from tagger.service.batcher import MicroBatcher
from tagger.service.guard import TOKEN_ENV, Guard, SafeJSONResponse, json_bytes
from tagger.service.page import page
from tagger.service.schemas import AnnotateResponse, FillMaskResponse, HealthResponse, InfoResponse, request_models
from tagger.service.settings import ServiceSettings

BUSY: dict[int | str, dict[str, Any]] = {
    400: {"description": "A malformed request: an invalid Content-Length header, or input the model cannot take."},
    408: {"description": "The body did not arrive within body_timeout_s of the headers (the connection is closed)."},
    413: {"description": "The request body is larger than max_body_bytes."},
    503: {"description": "Busy: the queue is full (max_queued), this client has too many texts pending (max_queued_per_client), "
                         "the bodies being received hold max_buffered_bytes, or the request timed out (request_timeout_s); "
                         "retry after Retry-After."}}
LIMITS = ("max_texts", "max_chars", "max_tokens", "max_body_bytes", "max_blanks", "max_batch", "max_buffered_bytes", "max_connections",
          "header_timeout_s", "body_timeout_s")  # listed by /info, with the queue's
TRIAL_TEXT = "Maria moved to Chicago ."  # labelled once at start, so that a model that loads but cannot label never serves


def load_model(model: str | Path, run: RunOptions = RunOptions()) -> Tagger:
    """The model directory loaded and tried on one short text (and one blank, with a masked-token
    head), its answers checked against the response schemas: ModelFormatError naming the directory
    if it cannot serve, so that a service over a bad model never starts."""
    tagger = Tagger.load(model, run)
    try:
        if tagger.tasks:  # a pretrained model serves /fill-mask alone
            AnnotateResponse.model_validate_json(results_response(rendered(tagger.predict([TRIAL_TEXT], scores=True), None)).body)
        if tagger.has_masked_lm:
            filled = tagger.fill_mask([f"Maria moved to {BLANK} ."])
            FillMaskResponse.model_validate_json(results_response([json_bytes(sentence.to_dict()) for sentence in filled]).body)
    except Exception as error:  # whatever it is, the model cannot serve
        raise ModelFormatError(f"{model}: the model loads but fails on a one-line text ({type(error).__name__}: {str(error)[:200]}); "
                               "it is damaged or was edited: train it again, or restore it from a copy") from error
    return tagger


def rendered(predictions: list[Prediction], tasks: list[str] | None) -> list[bytes]:
    """Each prediction as the JSON of one /annotate result, with only ``tasks`` (all for None)."""
    return [json_bytes(prediction.select(tasks).to_dict()) for prediction in predictions]


def results_response(parts: list[bytes]) -> Response:
    """``{"results": [...]}`` from each result's JSON: the event loop only joins the bytes the model
    thread made (pydantic does not check them again; the schema documents them)."""
    return Response(b'{"results":[' + b",".join(parts) + b"]}", media_type="application/json")


def client_of(scope: Mapping[str, Any]) -> str:
    """Who sent a request (its ASGI scope), for taking turns: its peer address, or the one a trusted
    proxy forwarded (uvicorn's proxy headers)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def create_app(model: str | Path | Tagger, settings: ServiceSettings | None = None, *, token: str | None = None,
               **overrides: Any) -> FastAPI:
    """The service for one model (a model directory, loaded now and tried: :func:`load_model`; or a
    loaded Tagger).

    ``settings`` (default :class:`ServiceSettings`), with any of its fields replaced by
    ``overrides`` (``max_batch=4``), sets the limits; ``host``, ``port``, ``header_timeout_s`` and
    ``max_connections`` are for whoever runs the app (:mod:`tagger.service.server`). ``max_queued``
    and ``max_queued_per_client`` None give :attr:`ServiceSettings.queue_limit` and
    :attr:`ServiceSettings.client_queue_limit`; ``request_timeout_s`` 0 or
    None: no time limit; ``run`` is how a model directory is loaded (``Tagger.load``: device,
    precision, threads, batch size), a loaded Tagger keeps its own. ``token``: the bearer token required on every
    endpoint but ``/health`` and the page at ``/``; None reads the ``BIRNN_TAGGER_TOKEN`` environment
    variable, and an empty token turns the check off.
    """
    settings = replace(settings or ServiceSettings(), **overrides)
    tagger = model if isinstance(model, Tagger) else load_model(model, settings.run)
    name = tagger.info.name
    token = os.environ.get(TOKEN_ENV) if token is None else token
    batcher = MicroBatcher(tagger, settings)
    AnnotateRequest, FillMaskRequest = request_models(tagger.tasks, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202 - FastAPI's lifespan protocol
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="birnn-tagger",
        version=str(tagger.info.meta.get("versions", {}).get("birnn_tagger", "")) or "0",
        description=f"Sequence labelling with a deep BiLSTM/GRU tagger: model `{name}`, tasks {', '.join(tagger.tasks)}.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.state.batcher = batcher
    app.state.settings = settings
    app.state.token_required = bool(token)
    # Documents the token in the OpenAPI schema; the check itself is in Guard (which also covers /docs).
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

    html, page_headers = page()  # read now: a missing page.html fails here, not on the first visit

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> HTMLResponse:
        """A page that labels pasted text through /annotate (static, so no token needed; its requests carry one)."""
        return HTMLResponse(html, headers=page_headers)

    @app.get("/health", response_model=HealthResponse, summary="Liveness (no token needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info", response_model=InfoResponse, dependencies=protected, summary="The model: tasks, labels, scores, versions")
    async def info() -> dict[str, Any]:
        meta = tagger.info.meta
        return {
            "model": name,
            "lang": tagger.info.config.lang,
            "tasks": {task: {"decoder": spec.decoder, "spans": spec.is_span, "labels": list(spec.labels)} for task, spec in tagger.task_specs.items()},
            "fill_mask": tagger.has_masked_lm,
            "scores": meta.get("scores", {}),
            "versions": {k: str(v) for k, v in meta.get("versions", {}).items()},
            "created": meta.get("created"),
            "parameters": meta.get("parameters"),
            "limits": {**{limit: getattr(settings, limit) for limit in LIMITS}, "max_queued": batcher.max_queued,
                       "max_queued_per_client": batcher.max_queued_per_client, "request_timeout_s": batcher.request_timeout_s},
        }

    @app.post("/annotate", response_model=AnnotateResponse, response_model_exclude_none=True, dependencies=protected,
              responses={404: {"description": "The model has no tagging task (a pretrained one)."}, **BUSY}, summary="Label texts or token lists")
    async def annotate(body: AnnotateRequest, request: Request) -> Response:  # type: ignore[valid-type]
        if not tagger.tasks:
            raise HTTPException(404, NO_TASKS)
        sentences = [Sentence([], text=item) if isinstance(item, str) else Sentence(list(item)) for item in body.texts]
        parts = await batcher.annotate(sentences, body.scores, client_of(request.scope), partial(rendered, tasks=body.tasks))
        return results_response(parts)

    @app.post("/fill-mask", response_model=FillMaskResponse, dependencies=protected,
              responses={404: {"description": "The model has no masked-token head."}, **BUSY},
              summary=f"Likeliest words for each {BLANK}")
    async def fill_mask(body: FillMaskRequest, request: Request) -> Response:  # type: ignore[valid-type]
        if not tagger.has_masked_lm:
            raise HTTPException(404, "this model has no masked-token head, so /fill-mask is not available "
                                     "(train with masked_lm.weight > 0 or with tagger pretrain)")
        blanks = sum(item.count(BLANK) for item in body.texts)  # in a text, or as tokens
        if blanks > settings.max_blanks:
            raise HTTPException(422, f"texts: {blanks} {BLANK} blanks; at most {settings.max_blanks} per request")

        def fill(texts: list[Any]) -> list[bytes]:  # on the model thread, a piece at a time
            return [json_bytes(filled.to_dict()) for filled in tagger.fill_mask(texts, top_k=body.top_k)]

        return results_response(await batcher.map(list(body.texts), fill, client_of(request.scope)))

    # Only the routes with a request model take a body; the guard refuses one anywhere else unread.
    body_routes = {(method, route.path) for route in app.routes if isinstance(route, APIRoute) and route.body_field is not None
                   for method in route.methods}

    def early_refusal(scope: Mapping[str, Any]) -> str | None:
        """A client at its queue limit is refused before its body is parsed: sending on regardless costs little."""
        detail = batcher.refusal(client_of(scope))
        batcher.requests_refused += detail is not None
        return detail

    app.add_middleware(Guard, token=token or None, max_body_bytes=settings.max_body_bytes, body_routes=body_routes,
                       body_timeout_s=settings.body_timeout_s, max_buffered_bytes=settings.max_buffered_bytes, refusal=early_refusal)
    return app
