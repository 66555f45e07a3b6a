"""Shared fixtures: a tiny config over the bundled sample corpus and a model trained once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tagger.core.config import TaggerConfig, from_dict

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpora" / "sample"
SHARED_CORPORA = Path(os.environ.get("BIRNN_TAGGER_DATA") or ROOT.parent / "shared" / "corpora")


# A small config file for the command line: train and dev from the sample corpus (format with train=, dev=).
TINY_CONFIG = """
seed = 3
[data]
train = {{ path = "{train}", columns = {{ upos = 1, ner = 2 }} }}
dev = {{ path = "{dev}", columns = {{ upos = 1, ner = 2 }} }}
[tasks.upos]
[tasks.ner]
decoder = "crf"
scheme = "BIOES"
[embeddings]
word_dim = 16
min_freq = 1
char_encoder = "cnn"
char_dim = 8
char_hidden = 8
[encoder]
hidden_size = 16
num_layers = 1
[training]
max_epochs = 20
batch_size = 4
threads = 1
"""


def tiny_config_dict(train: str = "sample:train", dev: str = "sample:dev", limit: int = 120) -> dict:
    """Sizes of a few units: trains in seconds, still learns the sample corpus."""
    return {
        "seed": 7,
        "data": {"train": train, "dev": dev, "max_train_sentences": limit},
        "tasks": {"upos": {"decoder": "softmax"}, "ner": {"decoder": "crf", "scheme": "BIOES"}},
        "embeddings": {"word_dim": 16, "min_freq": 1, "char_encoder": "cnn", "char_dim": 8, "char_hidden": 16, "dropout": 0.1, "word_dropout": 0.0},
        "encoder": {"kind": "lstm", "hidden_size": 24, "num_layers": 1, "dropout": 0.1},
        "training": {"batch_size": 8, "max_epochs": 12, "patience": 0, "learning_rate": 0.01, "warmup_steps": 5, "threads": 1},
    }


@pytest.fixture
def tiny_config() -> TaggerConfig:
    return from_dict(tiny_config_dict())


@pytest.fixture(scope="session")
def trained_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory trained once for the whole session, on the whole sample corpus so that
    it reliably finds entities (about 8 s; with 120 sentences whether it finds any depends on the
    initialisation)."""
    from tagger.training import train

    directory = tmp_path_factory.mktemp("tiny-model")
    train(from_dict(tiny_config_dict(limit=0)), directory)
    return directory


@pytest.fixture
def shared_corpora(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real corpora beside the checkout (CI has them); skip with the reason when absent."""
    if not (SHARED_CORPORA / "ud-en-ewt").is_dir():
        pytest.skip(f"real corpora not found at {SHARED_CORPORA} (set BIRNN_TAGGER_DATA to run these tests)")
    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(SHARED_CORPORA))
    return SHARED_CORPORA


def with_run(tagger, **changes):  # noqa: ANN001, ANN201 - a Tagger
    """A copy of ``tagger`` running with some RunOptions fields changed (``batch_size=1``); the model is shared."""
    import copy
    import dataclasses

    changed = copy.copy(tagger)
    changed.set_run_options(dataclasses.replace(tagger.run, **changes))
    return changed


class FakeMachine:
    """/proc/stat readings and a clock for ThreadPolicy: 4 CPUs, jiffies counted at 100 a second."""

    def __init__(self) -> None:
        self.now = 0.0
        self.idle = [0, 0, 0, 0]
        self.total = [0, 0, 0, 0]
        self.own = 0.0
        self.reads = 0

    def read(self):  # noqa: ANN201 - a CpuReading
        self.reads += 1
        from tagger.core.runtime import CpuReading

        return CpuReading({cpu: (self.idle[cpu], self.total[cpu]) for cpu in range(4)}, self.own)

    def run(self, seconds: float, idle_cpus: float, own_cores: float) -> None:
        """``seconds`` pass with ``idle_cpus`` of the 4 idle (the first ones busy) and this process using ``own_cores``."""
        jiffies = round(seconds * 100)
        for cpu in range(4):
            self.total[cpu] += jiffies
            self.idle[cpu] += round(jiffies * min(max(idle_cpus - (3 - cpu), 0.0), 1.0))
        self.own += seconds * own_cores
        self.now += seconds
