"""birnn-tagger: sequence labelling with deep bidirectional LSTM/GRU encoders.

    from tagger import Tagger
    tagger = Tagger.load("models/ewt-joint")
    tagger.predict("Apple is looking at buying a U.K. startup.")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tagger.core.version import __version__

__all__ = ["Tagger", "RunOptions", "train", "load_config", "TaggerError", "ConfigError", "InputError", "__version__"]

if TYPE_CHECKING:
    from tagger.core.errors import ConfigError, InputError, TaggerError
    from tagger.core.runtime import RunOptions
    from tagger.data.configs import load_config
    from tagger.model.predict import Tagger
    from tagger.training import train

# Imported on first use, so that `import tagger` (and `tagger info`) stay fast: name -> module.
_PUBLIC = {"Tagger": "tagger.model.predict", "RunOptions": "tagger.core.runtime", "train": "tagger.training",
           "load_config": "tagger.data.configs", "TaggerError": "tagger.core.errors", "ConfigError": "tagger.core.errors",
           "InputError": "tagger.core.errors"}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")
