"""--precision int8: the LSTM encoder exported to ONNX Runtime, with int8 weights (tagger.nn.onnx_encoder)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from conftest import SAMPLE
from typer.testing import CliRunner

from tagger.core.config import EncoderConfig
from tagger.core.errors import TaggerError
from tagger.core.types import Sentence
from tagger.model.predict import Tagger
from tagger.nn.encoder import BiRNNEncoder

pytest.importorskip("onnx", reason="the onnx extra is not installed (pip install 'birnn-tagger[onnx]')")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'birnn-tagger[onnx]')")

from tagger.nn.onnx_encoder import OnnxEncoderRunner, build_runner, export_encoder, quantize_encoder  # noqa: E402


def sample_sentences(split: str = "test") -> list[Sentence]:
    from tagger.data.readers import read_corpus

    return [Sentence(s.tokens) for s in read_corpus(SAMPLE / f"{split}.conll", columns={"upos": 1, "ner": 2})]


@pytest.fixture(scope="module")
def two_layer_encoder() -> tuple[BiRNNEncoder, torch.Tensor, torch.Tensor]:
    """A two-layer LSTM encoder (the tiny trained model has one layer: int8 would quantize nothing)
    and a padded batch of pre-embedded input with ragged lengths."""
    torch.manual_seed(0)
    encoder = BiRNNEncoder(EncoderConfig(kind="lstm", hidden_size=32, num_layers=2, dropout=0.1), 20).eval()
    lengths = torch.tensor([11, 4, 1, 7, 11, 2])
    inputs = torch.randn(len(lengths), 11, 20)
    inputs *= (torch.arange(11)[None, :] < lengths[:, None])[..., None]
    return encoder, inputs, lengths


def test_exported_fp32_graph_matches_torch(two_layer_encoder, tmp_path: Path) -> None:
    encoder, inputs, lengths = two_layer_encoder
    with torch.no_grad():
        expected = encoder(inputs, lengths)
        got = OnnxEncoderRunner(export_encoder(encoder, tmp_path / "encoder.onnx"))(inputs, lengths)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("precision", ["int8", "int8-all"])
def test_int8_states_close_to_torch(two_layer_encoder, tmp_path: Path, precision: str) -> None:
    encoder, inputs, lengths = two_layer_encoder
    plain = export_encoder(encoder, tmp_path / "encoder.onnx")
    quantized = quantize_encoder(plain, tmp_path / "encoder-q.onnx", precision)
    assert quantized != plain and quantized.stat().st_size < plain.stat().st_size  # int8 weights were written
    with torch.no_grad():
        expected = encoder(inputs, lengths)
        got = build_runner(encoder, precision)(inputs, lengths)
    mask = torch.arange(inputs.shape[1])[None, :] < lengths[:, None]
    assert not got[~mask].any()  # padding zeroed
    # LSTM states lie in (-1, 1); int8 weights move them by a few hundredths at most
    assert (got - expected)[mask].abs().max() < 0.1
    assert (got - expected)[mask].abs().mean() < 0.02


def test_training_mode_never_uses_the_runner(two_layer_encoder) -> None:
    encoder, inputs, lengths = two_layer_encoder
    calls = []
    encoder.runner = lambda *args: calls.append(args)
    try:
        encoder.train()
        torch.manual_seed(1)
        encoder(inputs, lengths)
        assert not calls
    finally:
        encoder.runner = None
        encoder.eval()


@pytest.fixture(scope="module")
def int8_taggers(trained_tiny_model: Path) -> dict[str, Tagger]:
    taggers = {precision: Tagger.load(trained_tiny_model, precision=precision) for precision in ("fp32", "int8", "int8-all")}
    assert taggers["fp32"].config.encoder.kind == "lstm"  # conftest's tiny model; the GRU case is built below
    return taggers


def test_precision_is_recorded_and_the_model_dir_untouched(int8_taggers, trained_tiny_model: Path) -> None:
    assert {name: t.precision for name, t in int8_taggers.items()} == {"fp32": "fp32", "int8": "int8", "int8-all": "int8-all"}
    assert not list(trained_tiny_model.glob("*.onnx"))


@pytest.mark.parametrize("precision", ["int8", "int8-all"])
def test_int8_labels_mostly_agree_with_fp32(int8_taggers, precision: str) -> None:
    """The tiny model has one LSTM layer: ``int8`` leaves it in fp32 (ONNX Runtime, same labels),
    ``int8-all`` quantizes it. 95% token agreement is a fair bound: on the trained models int8 moved
    accuracy by <= 0.35 points (int8-all, NER), i.e. well under 1% of tokens changed; a tiny model
    with small hidden states has less margin between its labels, so 5% leaves room without letting a
    broken export (wrong weights or leaking padding: near-chance labels) through."""
    sentences = sample_sentences()
    expected = int8_taggers["fp32"].label_sentences(sentences)
    got = int8_taggers[precision].label_sentences(sentences)
    for task in int8_taggers["fp32"].tasks:
        pairs = [(a, b) for e, g in zip(expected, got) for a, b in zip(e.tags[task], g.tags[task])]
        agreement = sum(a == b for a, b in pairs) / len(pairs)
        assert agreement >= (1.0 if precision == "int8" else 0.95), (task, agreement)


@pytest.mark.parametrize("precision", ["int8", "int8-all"])
def test_int8_padding_does_not_leak(two_layer_encoder, precision: str) -> None:
    """More padding, with garbage in it, changes nothing on the real tokens."""
    encoder, inputs, lengths = two_layer_encoder
    run = build_runner(encoder, precision)
    padded = torch.cat([inputs, 5 * torch.randn(inputs.shape[0], 6, inputs.shape[2])], dim=1)
    padded[: , : inputs.shape[1]] += 5 * torch.randn_like(inputs) * (torch.arange(inputs.shape[1])[None, :] >= lengths[:, None])[..., None]
    with torch.no_grad():
        assert torch.allclose(run(padded, lengths)[:, : inputs.shape[1]], run(inputs, lengths), atol=1e-6)


def test_int8_labels_do_not_depend_on_the_batch(int8_taggers) -> None:
    """A sentence alone and in a batch of others of other lengths: the same labels. Exactly so for
    ``int8`` on this one-layer model (nothing quantized); ``int8-all`` scales int8 activations per
    batch (dynamic quantization), so the other sentences may move a rare label, never many."""
    sentences = sample_sentences("dev")[:12]
    for precision, bound in (("int8", 1.0), ("int8-all", 0.95)):
        tagger = int8_taggers[precision]
        together = tagger.label_sentences(sentences)
        pairs = []
        for sentence, joint in zip(sentences, together):
            alone = tagger.label_sentences([sentence])[0]
            pairs.extend((a, b) for task in tagger.tasks for a, b in zip(alone.tags[task], joint.tags[task]))
        assert sum(a == b for a, b in pairs) / len(pairs) >= bound, precision


def test_bad_precision_and_gru_raise(trained_tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(TaggerError, match="precision: 'int4' is not one of 'fp32', 'int8', 'int8-all'"):
        Tagger.load(trained_tiny_model, precision="int4")
    from tagger.model.serialize import save_model
    from tagger.nn.model import build_model

    tagger = Tagger.load(trained_tiny_model)
    config = dataclasses.replace(tagger.config, encoder=dataclasses.replace(tagger.config.encoder, kind="gru"))
    save_model(tmp_path / "gru", build_model(config, tagger.vocab), tagger.vocab, config)
    Tagger.load(tmp_path / "gru")  # fp32 is fine
    with pytest.raises(TaggerError, match="LSTM"):
        Tagger.load(tmp_path / "gru", precision="int8")
    with pytest.raises(TaggerError, match="CPU"):
        Tagger.load(trained_tiny_model, device="cuda", precision="int8")


def test_missing_onnxruntime_names_the_extra(trained_tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(TaggerError, match=r"birnn-tagger\[onnx\]"):
        Tagger.load(trained_tiny_model, precision="int8")


def test_annotate_cli_with_int8(trained_tiny_model: Path, tmp_path: Path) -> None:
    from tagger.cli import app

    source = tmp_path / "docs.txt"
    source.write_text("Maria Lopez flew to New York .\nThe Red Cross helped people in Paris .\n")
    result = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(source), "-o", str(tmp_path / "out.jsonl"),
                                      "--precision", "int8"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[0]["tokens"][:2] == ["Maria", "Lopez"]
    bad = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(source), "--precision", "int3"])
    assert bad.exit_code == 2 and "'int3' is not one of" in bad.output


def test_the_spacy_component_runs_at_the_precision_it_is_given_also_after_a_bytes_round_trip(trained_tiny_model: Path) -> None:
    import spacy

    pipeline = spacy.blank("en")
    component = pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "precision": "int8-all"})
    assert component.tagger.precision == "int8-all"
    fresh = spacy.blank("en")
    fresh.add_pipe("birnn_tagger", config={"precision": "int8-all"})
    fresh.from_bytes(pipeline.to_bytes())
    assert fresh.get_pipe("birnn_tagger").tagger.precision == "int8-all"
    text = "Maria Lopez moved to Chicago last year."
    assert [t.pos_ for t in fresh(text)] == [t.pos_ for t in pipeline(text)]
    with pytest.raises(TaggerError, match="precision: 'int4' is not one of"):
        spacy.blank("en").add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "precision": "int4"})
