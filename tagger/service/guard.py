"""Checks before any route runs, as ASGI middleware: the bearer token, then the body size; and JSON
responses that never fail on text UTF-8 cannot encode."""

import hmac
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi.responses import JSONResponse

TOKEN_ENV = "BIRNN_TAGGER_TOKEN"  # bearer token required on every endpoint but the open paths when set
OPEN_PATHS = frozenset({"/health", "/"})  # liveness, and the static page (it holds no data; its calls carry the token)


class Guard:
    """ASGI middleware: the bearer token (every path but OPEN_PATHS), then the body size (413)."""

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
