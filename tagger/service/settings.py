"""Every option of the HTTP service, each with its default, range and help in one place.

``create_app`` takes a :class:`ServiceSettings`; ``serve.py`` and ``tagger serve`` build their
command-line options from its fields and RunOptions' (:func:`tagger.core.config.options_of`), so
the two always offer the same ones.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Annotated

from tagger.core.config import Range, check_settings, setting
from tagger.core.runtime import RunOptions

MiB = 1024 * 1024
TOKEN_ENV = "BIRNN_TAGGER_TOKEN"  # bearer token required on every endpoint but the open paths when set


@dataclass(frozen=True)
class ServiceSettings:
    """How the service binds, batches and limits requests, and how its model runs (``run``). Checked when
    made, like every settings class (:func:`tagger.core.config.check_settings`): ``create_app(m,
    ServiceSettings(max_texts=0))`` is refused, naming the field."""

    host: str = setting("127.0.0.1", "Interface to bind (the default is loopback only).")
    port: Annotated[int, Range(1, 65535)] = setting(8000, "TCP port.")
    max_batch: Annotated[int, Range(1)] = setting(256, "Texts merged into one model call at most.")
    max_wait_ms: Annotated[float, Range(0)] = setting(0.0, "How long a batch waits for more texts (0: it takes what queued up while "
                                                      "the model was busy).")
    max_texts: Annotated[int, Range(1)] = setting(1000, "Texts per request at most.")
    max_chars: Annotated[int, Range(1)] = setting(100_000, "Characters per text at most (a token list's tokens count together).")
    max_tokens: Annotated[int, Range(1)] = setting(10_000, "Tokens per token list at most.")
    max_body_bytes: Annotated[int, Range(1)] = setting(10 * MiB, "Request body size in bytes at most (413 beyond).", shown="10 MiB")
    max_blanks: Annotated[int, Range(1)] = setting(1000, "[MASK] blanks per /fill-mask request at most.")
    max_queued: Annotated[int, Range(1)] | None = setting(None, "Texts accepted and not yet answered at most, all clients together; "
                                                          "more get 503.", shown="4 x max-queued-per-client")
    max_queued_per_client: Annotated[int, Range(1)] | None = setting(None, "A client (peer address) with this many texts accepted and "
                                                                     "not yet answered gets 503 for more, before their body is parsed; "
                                                                     "other clients are served.", shown="max(4 x max-batch, max-texts)")
    request_timeout_s: Annotated[float, Range(0)] | None = setting(30.0, "Seconds a request waits for its results before it gets 503; "
                                                                   "0: no limit.", flag="--request-timeout")
    header_timeout_s: Annotated[float, Range(0)] = setting(10.0, "Seconds a client has to send a request's headers, from connecting or "
                                                           "from the end of the previous answer (beyond: 408 and the connection "
                                                           "closed); 0: no limit.", flag="--header-timeout")
    body_timeout_s: Annotated[float, Range(0)] = setting(30.0, "Seconds a client has to send a request's body, from the end of its "
                                                         "headers (beyond: 408 and the connection closed); 0: no limit.",
                                                         flag="--body-timeout")
    max_connections: Annotated[int, Range(1)] = setting(512, "Open connections at most; a request on one more gets 503 and its "
                                                        "connection is closed.")
    max_buffered_bytes: Annotated[int, Range(1)] = setting(64 * MiB, "Bytes of request bodies being received, all requests together, "
                                                           "at most; a body past its first 64 KiB that would pass it gets 503 (one "
                                                           "body alone is always read).", shown="64 MiB")
    run: RunOptions = field(default_factory=RunOptions)  # how the model runs: --device, --precision, --threads, --batch-size

    def __post_init__(self) -> None:
        check_settings(self)

    @property
    def client_queue_limit(self) -> int:
        """``max_queued_per_client``, by default ``max(4 * max_batch, max_texts)``: about four model
        calls' worth (one running, three waiting), and never less than one full request."""
        if self.max_queued_per_client is not None:
            return self.max_queued_per_client
        return max(4 * self.max_batch, self.max_texts)

    @property
    def queue_limit(self) -> int:
        """``max_queued``, by default four clients' worth of :attr:`client_queue_limit`: one client
        alone can never fill the queue, so that the others still get in."""
        return 4 * self.client_queue_limit if self.max_queued is None else self.max_queued


LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def exposure_warning(host: str, token_required: bool) -> str | None:
    """The warning for a service that binds beyond this machine (``host`` not loopback) and requires
    no bearer token, else None."""
    if token_required or _is_loopback(host):
        return None
    return (f"--host {host} serves every client that can reach this machine, and no token is set: anyone can use the model. "
            f"Set {TOKEN_ENV} to require a bearer token, or bind to 127.0.0.1.")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name, not an address
        return host.lower() in LOOPBACK_NAMES
