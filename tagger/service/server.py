"""Running the service on uvicorn, the same way for ``serve.py`` and ``tagger serve``.

:func:`prepare` builds the app: the model is loaded and tried first, so a bad model raises a
TaggerError before anything binds, and a service open to the network without a token is warned
about. :func:`run` serves it with the limits on slow and numerous clients: a time limit on request
headers (:class:`HeaderTimedH11Protocol`; uvicorn has none), ``max_connections`` (uvicorn's
``limit_concurrency``), and a lifespan that must start (uvicorn's default goes on without one, so a
failed start would serve without its batcher). The body's limits are the guard's
(:mod:`tagger.service.guard`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from tagger.service.settings import ServiceSettings, exposure_warning

if TYPE_CHECKING:
    from fastapi import FastAPI

KEEP_ALIVE_S = 5  # uvicorn's default: an idle connection is closed this long after its last answer


class HeaderTimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a time limit on request headers: a connection whose request
    headers have not all come ``header_timeout_s`` after it opened, or after its previous answer,
    is closed (with a 408 when part of a request came). Without it, a client that never finishes
    its headers holds its connection for ever: uvicorn only times out idle connections between
    requests."""

    header_timeout_s: float | None = None  # set on a subclass by header_timed()
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._stop_header_timer()
        if self.header_timeout_s and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:  # closed, or a request came
            return
        if self.conn.trailing_data[0]:  # part of a request came: say why it is closed
            self.transport.write(_timeout_response(self.header_timeout_s or 0))
        self.transport.close()


def _timeout_response(seconds: float) -> bytes:
    body = json.dumps({"detail": f"the request headers did not arrive within {seconds:g} s (header_timeout_s)"}).encode()
    head = (f"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode("ascii") + body


def header_timed(timeout_s: float | None) -> type[HeaderTimedH11Protocol]:
    """:class:`HeaderTimedH11Protocol` with this time limit (0 or None: none)."""
    return type("HeaderTimedH11Protocol", (HeaderTimedH11Protocol,), {"header_timeout_s": timeout_s or None})


def uvicorn_options(settings: ServiceSettings) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.run`` / ``uvicorn.Config`` for these settings."""
    return {"host": settings.host, "port": settings.port, "http": header_timed(settings.header_timeout_s),
            "limit_concurrency": settings.max_connections, "timeout_keep_alive": KEEP_ALIVE_S, "lifespan": "on",
            "ws": "none"}  # no WebSocket route: an upgrade request is plain HTTP, under the guard's checks


def prepare(model: str | Path, settings: ServiceSettings) -> FastAPI:
    """The app for ``model`` (loaded and tried: TaggerError if it cannot serve; ValueError for a
    limit out of range), with a warning on standard error if it would be open to the network
    without a token."""
    from tagger.service.app import create_app

    app = create_app(model, settings)
    warning = exposure_warning(settings.host, app.state.token_required)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    return app


def run(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve ``app`` on uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, **uvicorn_options(settings))
