"""birnn-tagger: sequence labelling with deep bidirectional LSTM/GRU encoders.

    from tagger import Tagger
    tagger = Tagger.load("models/ewt-joint")
    tagger.predict("Apple is looking at buying a U.K. startup.")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Tagger", "train", "load_config", "__version__"]

if TYPE_CHECKING:
    from tagger.config import load_config
    from tagger.predict import Tagger
    from tagger.training import train


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import tagger` (and `tagger info`) stay fast.
    if name == "Tagger":
        from tagger.predict import Tagger

        return Tagger
    if name == "train":
        from tagger.training import train

        return train
    if name == "load_config":
        from tagger.config import load_config

        return load_config
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")
