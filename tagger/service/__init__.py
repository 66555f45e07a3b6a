"""The HTTP service: a FastAPI app around one model, with concurrent requests micro-batched.

``create_app(model_dir)`` builds the app (:mod:`tagger.service.app`); ``python serve.py --model DIR``
and ``tagger serve DIR`` run it on uvicorn (:mod:`tagger.service.server`: the model tried before
anything binds, time limits on request headers, a cap on connections), with the options of
:class:`ServiceSettings` (:mod:`tagger.service.settings`). Concurrent ``/annotate`` requests put their
texts on one queue; a worker labels them together on a single model thread, a piece at a time with
clients taking turns, and hands each request its own results (:mod:`tagger.service.batcher`).
``/fill-mask`` requests wait in the same queue and their pieces run alone. Overload gets 503 with
Retry-After, never an endless wait. The bearer token and the body (none where a route takes none,
its size, its time to arrive, the bytes all bodies hold) are checked before any route
(:mod:`tagger.service.guard`); the JSON bodies are in :mod:`tagger.service.schemas`. The model
directory is fixed when the app is made and never comes from a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagger.service.settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]

if TYPE_CHECKING:
    from tagger.service.app import create_app


def __getattr__(name: str) -> Any:
    # Imported on first use: the command lines read the settings without loading FastAPI or torch.
    if name == "create_app":
        from tagger.service.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
