"""The network's contract: gradients everywhere, padding invariance, seeding, overfitting, save/load."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_config_dict

from tagger.core.batching import BatchEncoder
from tagger.core.config import from_dict
from tagger.core.runtime import seed_everything
from tagger.core.schemes import tags_to_spans
from tagger.core.types import Sentence
from tagger.core.vocab import Vocab
from tagger.model.predict import Tagger
from tagger.model.serialize import load_model, save_model
from tagger.nn.model import build_model

SENTENCES = [
    Sentence("Maria Lopez flew to New York .".split(), {"upos": "PROPN PROPN VERB ADP PROPN PROPN PUNCT".split(), "ner": "B-PER E-PER O O B-LOC E-LOC O".split()}),
    Sentence("The Red Cross helped .".split(), {"upos": "DET PROPN PROPN VERB PUNCT".split(), "ner": "O B-ORG E-ORG O O".split()}),
    Sentence("I like it".split(), {"upos": "PRON VERB PRON".split(), "ner": "O O O".split()}),
    Sentence("Paris".split(), {"upos": ["PROPN"], "ner": ["S-LOC"]}),
]

VARIANTS = [
    {"encoder": {"kind": kind}, "embeddings": {"char_encoder": chars}, "tasks": {"upos": {"decoder": "softmax"}, "ner": {"decoder": decoder, "scheme": "BIOES"}}}
    for kind, chars, decoder in [("lstm", "cnn", "crf"), ("gru", "lstm", "softmax"), ("lstm", "none", "crf"), ("gru", "cnn", "crf"),
                                 ("lstm", "sentence_lstm", "crf")]
]
VARIANTS[-1]["char_lm"] = {"weight": 0.5}


def build(variant: dict, seed: int = 3):
    raw = tiny_config_dict()
    for section, values in variant.items():
        raw[section] = {**raw.get(section, {}), **values} if section != "tasks" else values
    raw["encoder"]["num_layers"] = 2
    config = from_dict(raw)
    seed_everything(seed)
    vocab = Vocab.build(SENTENCES, config.tasks, min_freq=1)
    return config, vocab, build_model(config, vocab)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v['encoder']['kind']}-{v['embeddings']['char_encoder']}-{v['tasks']['ner']['decoder']}")
def test_every_parameter_gets_a_gradient(variant: dict) -> None:
    config, vocab, model = build(variant)
    batch = BatchEncoder.for_embeddings(vocab, config.embeddings).encode(SENTENCES)
    outputs = model(batch)
    torch.stack([o.loss for o in outputs.values()]).sum().backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not silent, f"no gradient for {silent}"


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v['encoder']['kind']}-{v['embeddings']['char_encoder']}-{v['tasks']['ner']['decoder']}")
def test_predictions_do_not_depend_on_the_batch(variant: dict) -> None:
    config, vocab, model = build(variant)
    model.eval()
    encoder = BatchEncoder.for_embeddings(vocab, config.embeddings)
    longer = Sentence("An unusually long sentence with many more words than any other one here , really .".split())
    with torch.no_grad():
        together = model(encoder.encode([*SENTENCES, longer], with_targets=False), decode=True)
        for row, sentence in enumerate(SENTENCES):
            alone = model(encoder.encode([sentence], with_targets=False), decode=True)
            for task in config.tasks:
                n = len(sentence)
                torch.testing.assert_close(alone[task].scores[0, :n], together[task].scores[row, :n], atol=1e-5, rtol=1e-5)
                assert alone[task].ids[0, :n].tolist() == together[task].ids[row, :n].tolist()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_the_packed_evaluation_path_gives_the_training_path_states(kind: str) -> None:
    """Evaluation runs all layers as one packed bidirectional call; training, layer by layer on padding."""
    config, vocab, model = build({"encoder": {"kind": kind, "dropout": 0.0}, "embeddings": {"char_encoder": "cnn"},
                                  "tasks": {"upos": {"decoder": "softmax"}}})
    inputs = torch.randn(5, 9, model.encoder.input_size)
    lengths = torch.tensor([9, 3, 7, 1, 5])  # unsorted, one of a single token
    mask = (torch.arange(9)[None, :] < lengths[:, None])[..., None]
    with torch.no_grad():
        stepwise = model.encoder.train()(inputs, lengths)
        packed = model.encoder.eval()(inputs, lengths)
    torch.testing.assert_close(packed * mask, stepwise * mask, atol=1e-6, rtol=1e-5)
    assert not packed[~mask.squeeze(-1)].any()  # padding stays zero


def test_the_char_cnn_in_length_groups_equals_one_full_width_convolution() -> None:
    config, vocab, model = build({"embeddings": {"char_encoder": "cnn"}})
    chars = model.embeddings.chars
    words = ["a", "abcdef", "abcdefg", "abcdefghijklmnop", "abcdefghijklmnopq", "x" * 30, "", "hello"]
    char_ids = torch.zeros(len(words), 30, dtype=torch.long)
    for row, word in enumerate(words):
        char_ids[row, : len(word)] = torch.tensor([vocab.chars.id(c) for c in word], dtype=torch.long) if word else torch.tensor([])
    with torch.no_grad():
        torch.testing.assert_close(chars(char_ids), chars._convolve(char_ids), atol=1e-6, rtol=1e-5)


def test_same_seed_same_weights_and_other_seed_differs() -> None:
    _, _, first = build(VARIANTS[0], seed=11)
    _, _, second = build(VARIANTS[0], seed=11)
    _, _, third = build(VARIANTS[0], seed=12)
    for (name, a), (_, b), (_, c) in zip(first.state_dict().items(), second.state_dict().items(), third.state_dict().items()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(first.state_dict().values(), third.state_dict().values()))


def test_overfits_a_few_sentences_and_survives_save_and_load(tmp_path) -> None:
    config, vocab, model = build(VARIANTS[0])
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.02)
    batch = BatchEncoder(vocab).encode(SENTENCES)
    model.train()
    for _ in range(150):
        loss = torch.stack([o.loss for o in model(batch).values()]).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tagger = Tagger(model, vocab, config)
    predictions = tagger.predict([s.tokens for s in SENTENCES])
    for sentence, prediction in zip(SENTENCES, predictions):
        assert prediction.tags["upos"] == sentence.tags["upos"]
        assert [(s.start, s.end, s.label) for s in prediction.spans["ner"]] == [
            (s.start, s.end, s.label) for s in tags_to_spans(sentence.tags["ner"], "BIOES")
        ]
    save_model(tmp_path, model, vocab, config, {"note": "test"})
    reloaded = Tagger.load(tmp_path)
    assert [p.tags for p in reloaded.predict([s.tokens for s in SENTENCES])] == [p.tags for p in predictions]
    assert reloaded.meta["note"] == "test"


@pytest.mark.parametrize("damage", ["weights", "labels"])
def test_a_damaged_model_file_is_named_not_loaded(tmp_path, damage: str) -> None:
    """Random bytes in the weights' data, or a reordered label list, load without any shape error:
    only the digests meta.json recorded at save time can tell."""
    from tagger.core.errors import ModelFormatError

    config, vocab, model = build(VARIANTS[0])
    save_model(tmp_path, model, vocab, config)
    load_model(tmp_path)
    if damage == "weights":
        path = tmp_path / "model.safetensors"
        data = bytearray(path.read_bytes())
        data[-4000:-2000] = torch.randint(0, 256, (2000,), dtype=torch.uint8).numpy().tobytes()
        path.write_bytes(bytes(data))
    else:
        path = tmp_path / "vocab.json"
        saved = json.loads(path.read_text())
        saved["labels"]["upos"] = saved["labels"]["upos"][::-1]
        path.write_text(json.dumps(saved))
    with pytest.raises(ModelFormatError, match=f"{path.name}: its sha256 is not the one meta.json recorded"):
        load_model(tmp_path)


def test_model_directory_holds_no_pickle_and_rejects_mismatched_weights(tmp_path) -> None:
    from safetensors.torch import save_file

    from tagger.core.errors import ModelFormatError

    config, vocab, model = build(VARIANTS[0])
    save_model(tmp_path, model, vocab, config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "meta.json", "model.safetensors", "vocab.json"]
    save_file({"unexpected.weight": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelFormatError, match="model.safetensors: its sha256 is not the one meta.json recorded"):
        load_model(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    del meta["sha256"]  # as in models saved before digests were recorded: the shapes are still checked
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="do not fit"):
        load_model(tmp_path)
    (tmp_path / "meta.json").write_text('{"format_version": 99}')
    with pytest.raises(ModelFormatError, match="format version"):
        load_model(tmp_path)


