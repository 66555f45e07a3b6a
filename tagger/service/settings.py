"""Every option of the HTTP service, each with its default, range and help in one place.

``create_app`` takes a :class:`ServiceSettings`; ``serve.py`` and ``tagger serve`` build their
command-line options from :func:`options`, so the two always offer the same ones.
"""

from __future__ import annotations

import ipaddress
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from tagger.types import PRECISION_HELP, PRECISIONS

MiB = 1024 * 1024
TOKEN_ENV = "BIRNN_TAGGER_TOKEN"  # bearer token required on every endpoint but the open paths when set


def parse_precision(text: str) -> str:
    """``text`` if it is one of the precisions a model loads at, else ValueError naming them."""
    if text not in PRECISIONS:
        raise ValueError(f"{text!r} is not one of {', '.join(PRECISIONS)}")
    return text


def _option(default: Any, help: str, *, low: float | None = None, high: float | None = None, shown: str | None = None,
            flag: str | None = None, parse: Callable[[str], Any] | None = None) -> Any:
    """A settings field and its command-line option: values in [low, high] (None: unbounded), the
    default as the help shows it (``shown``), the flag when not the field's name, and a ``parse``
    that checks a text option (raising ValueError)."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "shown": shown, "flag": flag, "parse": parse})


@dataclass(frozen=True)
class ServiceSettings:
    """How the service binds, batches, limits requests and loads its model."""

    host: str = _option("127.0.0.1", "Interface to bind (the default is loopback only).")
    port: int = _option(8000, "TCP port.", low=1, high=65535)
    max_batch: int = _option(256, "Texts merged into one model call at most.", low=1)
    max_wait_ms: float = _option(0.0, "How long a batch waits for more texts (0: it takes what queued up while the model was busy).",
                                 low=0)
    max_texts: int = _option(1000, "Texts per request at most.", low=1)
    max_chars: int = _option(100_000, "Characters per text at most (a token list's tokens count together).", low=1)
    max_tokens: int = _option(10_000, "Tokens per token list at most.", low=1)
    max_body_bytes: int = _option(10 * MiB, "Request body size in bytes at most (413 beyond).", low=1, shown="10 MiB")
    max_blanks: int = _option(1000, "[MASK] blanks per /fill-mask request at most.", low=1)
    max_queued: int | None = _option(None, "Texts accepted and not yet answered at most, all clients together; more get 503.", low=1,
                                     shown="4 x max-queued-per-client")
    max_queued_per_client: int | None = _option(None, "A client (peer address) with this many texts accepted and not yet answered "
                                                "gets 503 for more, before their body is parsed; other clients are served.", low=1,
                                                shown="max(4 x max-batch, max-texts)")
    request_timeout_s: float | None = _option(30.0, "Seconds a request waits for its results before it gets 503; 0: no limit.",
                                              low=0, flag="--request-timeout")
    header_timeout_s: float = _option(10.0, "Seconds a client has to send a request's headers, from connecting or from the end of "
                                      "the previous answer (beyond: 408 and the connection closed); 0: no limit.", low=0,
                                      flag="--header-timeout")
    body_timeout_s: float = _option(30.0, "Seconds a client has to send a request's body, from the end of its headers (beyond: 408 "
                                    "and the connection closed); 0: no limit.", low=0, flag="--body-timeout")
    max_connections: int = _option(512, "Open connections at most; a request on one more gets 503 and its connection is closed.", low=1)
    max_buffered_bytes: int = _option(64 * MiB, "Bytes of request bodies being received, all requests together, at most; a body "
                                      "past its first 64 KiB that would pass it gets 503 (one body alone is always read).", low=1,
                                      shown="64 MiB")
    precision: str = _option("fp32", PRECISION_HELP, parse=parse_precision)

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


@dataclass(frozen=True)
class Option:
    """One :class:`ServiceSettings` field as a command-line option."""

    name: str  # the field
    flag: str  # --max-batch
    kind: type  # int, float or str
    optional: bool  # None is a value (the default)
    default: Any
    help: str
    shown: str | None  # the default as the help shows it, when not the value itself
    low: float | None
    high: float | None
    parse: Callable[[str], Any] | None


def options() -> list[Option]:
    """The command-line options of the service, in the order of the settings fields."""
    hints = typing.get_type_hints(ServiceSettings)
    found = []
    for setting in fields(ServiceSettings):
        kinds = typing.get_args(hints[setting.name]) or (hints[setting.name],)  # int | None: (int, NoneType)
        meta = setting.metadata
        found.append(Option(name=setting.name, flag=meta["flag"] or "--" + setting.name.replace("_", "-"), kind=kinds[0],
                            optional=type(None) in kinds, default=setting.default, help=meta["help"],
                            shown=meta["shown"], low=meta["low"], high=meta["high"], parse=meta["parse"]))
    return found
