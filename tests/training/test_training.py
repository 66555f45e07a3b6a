"""The training loop: what it writes, reproducibility with a seed, resume from a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tiny_config_dict
from safetensors.torch import load_file

from tagger.core.config import from_dict
from tagger.model.predict import Tagger
from tagger.training import TrainingMonitor, train


def test_trained_model_directory_is_complete(trained_tiny_model: Path) -> None:
    names = {p.name for p in trained_tiny_model.iterdir()}
    assert {"config.json", "vocab.json", "model.safetensors", "meta.json", "metrics.jsonl", "learning_curve.png"} <= names
    meta = json.loads((trained_tiny_model / "meta.json").read_text())
    assert meta["format_version"] == 1
    assert set(meta["scores"]["dev"]) == {"upos", "ner"}
    records = [json.loads(line) for line in (trained_tiny_model / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, len(records) + 1))
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert (trained_tiny_model / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tiny_model_learns_the_sample_corpus(trained_tiny_model: Path) -> None:
    meta = json.loads((trained_tiny_model / "meta.json").read_text())
    # A majority-class tagger scores about 20% UPOS accuracy on the sample dev set.
    assert meta["scores"]["dev"]["upos"]["accuracy"] > 0.6


def test_same_seed_gives_the_same_model(tmp_path: Path) -> None:
    raw = tiny_config_dict(limit=40)
    raw["training"]["max_epochs"] = 2
    train(from_dict(raw), tmp_path / "a")
    train(from_dict(raw), tmp_path / "b")
    first, second = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all((first[k] == second[k]).all() for k in first)


class InterruptAfter(TrainingMonitor):
    """Stands in for Ctrl-C: raises once the given epoch has been checkpointed."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def end_epoch(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt


def test_resume_continues_where_training_stopped(tmp_path: Path) -> None:
    raw = tiny_config_dict(limit=40)
    raw["training"]["max_epochs"] = 4
    straight = train(from_dict(raw), tmp_path / "straight")

    with pytest.raises(KeyboardInterrupt):
        train(from_dict(raw), tmp_path / "resumed", monitor=InterruptAfter(2))
    resumed = train(from_dict(raw), tmp_path / "resumed", resume=True)

    assert [r["epoch"] for r in resumed.epochs] == [1, 2, 3, 4]
    for a, b in zip(straight.epochs, resumed.epochs):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-5, (a, b)
    sentences = [["Maria", "visited", "Paris", "."], ["The", "Red", "Cross", "helped", "us", "."]]
    assert [p.tags for p in Tagger.load(tmp_path / "straight").predict(sentences)] == [
        p.tags for p in Tagger.load(tmp_path / "resumed").predict(sentences)
    ]


def test_predict_maps_tokens_and_spans_to_characters_of_raw_text(trained_tiny_model: Path) -> None:
    tagger = Tagger.load(trained_tiny_model)
    text = "Dr. Anna Berg moved to  Oslo\tlast year; she works for Nordic Air 😀.\r\nBye"
    prediction = tagger.predict(text)
    assert prediction.tokens == [text[a:b] for a, b in prediction.offsets]
    assert "Oslo" in prediction.tokens and "\t" not in prediction.tokens
    assert len(prediction.tags["upos"]) == len(prediction.tokens) == len(prediction.tags["ner"])
    assert all(tag == "O" or tag[:2] in ("B-", "I-") for tag in prediction.tags["ner"])

    # Span offsets, from tags the model could have given (BIOES inside, BIO out).
    sentence = tagger.tokenizer(text)
    bioes = ["O"] * len(sentence.tokens)
    anna, oslo, nordic = sentence.tokens.index("Anna"), sentence.tokens.index("Oslo"), sentence.tokens.index("Nordic")
    bioes[anna], bioes[anna + 1], bioes[oslo], bioes[nordic], bioes[nordic + 1] = "B-PER", "E-PER", "S-LOC", "B-ORG", "E-ORG"
    mapped = tagger._to_prediction(sentence, {"upos": ["X"] * len(bioes), "ner": bioes})
    assert [(text[s.start_char : s.end_char], s.label) for s in mapped.spans["ner"]] == [("Anna Berg", "PER"), ("Oslo", "LOC"), ("Nordic Air", "ORG")]
    assert mapped.tags["ner"][anna : anna + 2] == ["B-PER", "I-PER"]
    assert tagger.predict("").tokens == []
