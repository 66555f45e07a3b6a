"""Checks before any route runs, as ASGI middleware: the bearer token, then the body (none on a route
that takes none; its size; the time it takes to arrive; the bytes all bodies being received hold
together); and JSON responses that never fail on text UTF-8 cannot encode."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from fastapi.responses import JSONResponse

from tagger.service.settings import TOKEN_ENV

__all__ = ["OPEN_PATHS", "TOKEN_ENV", "Guard", "SafeJSONResponse", "json_bytes"]

OPEN_PATHS = frozenset({"/health", "/"})  # liveness, and the static page (it holds no data; its calls carry the token)
RETRY_AFTER_S = 1  # as the batcher's 503s: bodies being received finish or time out within seconds
SMALL_BODY_BYTES = 64 * 1024  # never refused for max_buffered_bytes: uvicorn buffers this much per connection anyway
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class Refused(Exception):
    """A request answered before its route runs: the status, the detail and any headers."""

    def __init__(self, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, list(headers)


class Guard:
    """ASGI middleware: the bearer token (every path but OPEN_PATHS), then the body.

    Only ``body_routes`` (method, path) take a body: any other request that has one is refused
    before a byte of it is read (413). On a body route the body is read here, whole, before the
    route runs: refused as soon as its Content-Length or its running size passes ``max_body_bytes``
    (413), when it has not all arrived ``body_timeout_s`` after the headers (408), or when the
    bytes of all bodies being received would pass ``max_buffered_bytes`` (503) while others hold
    some and it is past its first SMALL_BODY_BYTES: one body alone is always read, and so are small
    ones, so that stalled large bodies cannot shut out small requests (the bytes held stay under
    ``max_buffered_bytes`` plus SMALL_BODY_BYTES per connection). ``refusal(scope)``, when given,
    says before the body is read whether the request gets 503 anyway (a queue full for its client):
    its body is then read and dropped, never parsed. Every refusal closes the connection, so that no
    client goes on sending a body nobody reads.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], *, token: str | None, max_body_bytes: int,
                 body_routes: Collection[tuple[str, str]], body_timeout_s: float | None = None,
                 max_buffered_bytes: int | None = None, refusal: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.body_routes = frozenset(body_routes)
        self.body_timeout_s = body_timeout_s or None  # 0: no limit
        self.max_buffered_bytes = max_buffered_bytes
        self.refusal = refusal
        self.buffered = 0  # bytes of the bodies being received now, all requests together

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        try:
            self._check_token(scope, headers)
            if (scope.get("method"), scope.get("path")) not in self.body_routes:
                self._check_no_body(scope, headers)
                return await self.app(scope, receive, send)
            busy = self.refusal(scope) if self.refusal is not None else None
            body = await self._read_body(headers, receive, keep=busy is None)
            if busy is not None and body is not None:
                raise Refused(503, busy, [(b"retry-after", str(RETRY_AFTER_S).encode())])
        except Refused as refused:
            return await _send_json(send, refused.status, {"detail": refused.detail}, [*refused.headers, (b"connection", b"close")])
        if body is None:  # the client left
            return None
        message: dict[str, Any] | None = {"type": "http.request", "body": body, "more_body": False}

        async def replay() -> dict:
            nonlocal message
            if message is not None:
                sent, message = message, None
                return sent
            return await receive()

        return await self.app(scope, replay, send)

    def _check_token(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> None:
        if self.token is None or scope.get("path") in OPEN_PATHS:
            return
        scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
        if not (scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)):
            raise Refused(401, "a valid bearer token is required (Authorization: Bearer <token>)", [(b"www-authenticate", b"Bearer")])

    @staticmethod
    def _check_no_body(scope: dict[str, Any], headers: dict[bytes, bytes]) -> None:
        """413 for a body on a route that takes none (a chunked one included), before any of it is read."""
        if _declared_length(headers) or b"transfer-encoding" in headers:
            raise Refused(413, f"{scope.get('method')} {scope.get('path')} takes no request body; send the request without one")

    async def _read_body(self, headers: dict[bytes, bytes], receive: Receive, keep: bool = True) -> bytes | None:
        """The whole body, read under the limits (or, not ``keep``, read and dropped: b""); None if the client left."""
        if (_declared_length(headers) or 0) > self.max_body_bytes:
            raise self._too_large()
        deadline = None if self.body_timeout_s is None else asyncio.get_running_loop().time() + self.body_timeout_s
        chunks, size, held, more = [], 0, 0, True
        try:
            while more:
                message = await _by(receive(), deadline)
                if message is None:
                    raise Refused(408, f"the request body did not arrive within {self.body_timeout_s:g} s of its headers "
                                       "(body_timeout_s); send it at once, or send less at a time")
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                if size + len(chunk) > self.max_body_bytes:
                    raise self._too_large()
                size += len(chunk)
                if keep:
                    self._hold(len(chunk), mine=held)
                    held += len(chunk)
                    chunks.append(chunk)
                more = message.get("more_body", False)
            return b"".join(chunks)
        finally:
            self.buffered -= held

    def _hold(self, size: int, mine: int) -> None:
        """Count ``size`` more bytes of a body that holds ``mine`` as being received; 503 if that
        passes max_buffered_bytes while other bodies hold some, unless the body is still small."""
        others = self.buffered - mine
        if (self.max_buffered_bytes is not None and others and mine + size > SMALL_BODY_BYTES
                and self.buffered + size > self.max_buffered_bytes):
            raise Refused(503, f"the service is busy receiving {self.buffered} bytes of other requests (max_buffered_bytes "
                               f"{self.max_buffered_bytes}); retry later", [(b"retry-after", str(RETRY_AFTER_S).encode())])
        self.buffered += size

    def _too_large(self) -> Refused:
        return Refused(413, f"request body too large: at most {self.max_body_bytes} bytes")


def _declared_length(headers: dict[bytes, bytes]) -> int | None:
    """The Content-Length header as a number (None without one); 400 if it is not one."""
    declared = headers.get(b"content-length")
    if declared is None:
        return None
    if not declared.strip().isdigit():
        raise Refused(400, "invalid Content-Length header")
    return int(declared)


async def _by(awaitable: Awaitable[dict], deadline: float | None) -> dict | None:
    """``awaitable``'s result, or None once loop time ``deadline`` has passed (None: no deadline)."""
    if deadline is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, max(deadline - asyncio.get_running_loop().time(), 0))
    except asyncio.TimeoutError:
        return None


async def _send_json(send: Send, status: int, content: Any, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json_bytes(content)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def json_bytes(content: Any) -> bytes:
    """JSON as UTF-8, with non-ASCII escaped when the text cannot be UTF-8 (lone surrogates)."""
    try:
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class SafeJSONResponse(JSONResponse):
    """JSONResponse that never fails on text that cannot be encoded as UTF-8."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)
