"""The sentence-level character encoder and the character LM auxiliary loss."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import tiny_config_dict

from tagger.annotate import AnnotateOptions
from tagger.core.batching import CHAR_LM, BatchEncoder
from tagger.core.config import from_dict
from tagger.core.errors import ConfigError
from tagger.core.runtime import seed_everything
from tagger.core.types import Sentence
from tagger.core.vocab import MASK, Vocab
from tagger.nn.embeddings import SentenceCharLSTM
from tagger.nn.model import build_model

SENTENCES = [Sentence(["The", "cat", "sat"], {"upos": ["DET", "NOUN", "VERB"]}), Sentence(["Hi"], {"upos": ["INTJ"]})]


def char_lm_config(weight: float = 0.5, **training: object) -> dict:
    raw = tiny_config_dict()
    raw["embeddings"].update(char_encoder="sentence_lstm", char_hidden=12)
    raw["char_lm"] = {"weight": weight}
    raw["training"].update(training)
    return raw


def test_the_stream_joins_words_with_spaces_and_marks_the_boundaries() -> None:
    vocab = Vocab.build(SENTENCES, ["upos"])
    encoder = BatchEncoder(vocab, max_word_chars=2, char_stream=True)
    stream = encoder.encode([*SENTENCES, Sentence(["a", MASK])]).stream
    assert stream is not None
    rows = [[vocab.chars.item(i) for i in row[:n]] for row, n in zip(stream.ids.tolist(), stream.lengths.tolist())]
    assert ["".join(row) for row in rows[:2]] == [" Th ca sa ", " Hi "]  # words cut to max_word_chars
    assert rows[2] == [" ", "a", " ", MASK, " "]  # a blank is its one mask character
    assert stream.boundaries.tolist() == [[0, 3, 6, 9], [0, 3, 0, 0], [0, 2, 4, 0]]
    assert [encoder.stream_length(s) for s in SENTENCES] == stream.lengths.tolist()[:2]
    assert stream.num_predicted == sum(stream.lengths.tolist()) - 3
    assert encoder.encode(SENTENCES).stream is not None and BatchEncoder(vocab).encode(SENTENCES).stream is None


def test_each_direction_reads_only_its_own_side() -> None:
    """The forward state at a character has read nothing after it, the backward one nothing before:
    so neither half of a word's vector, nor the character LM, sees what lies on the other side."""
    vocab = Vocab.build([Sentence("the cat sat on a mat".split()), Sentence("one dog ran by a rug".split())], [])
    encoder = BatchEncoder(vocab, char_stream=True)
    torch.manual_seed(0)
    chars = SentenceCharLSTM(len(vocab.chars), 6, 5)
    base = encoder.encode([Sentence("the cat sat on a mat".split())], with_targets=False).stream
    later = encoder.encode([Sentence("the cat sat by a rug".split())], with_targets=False).stream  # words 3-5 differ
    earlier = encoder.encode([Sentence("one dog ran on a mat".split())], with_targets=False).stream  # words 0-2 differ
    with torch.no_grad():
        first, second, third = (chars.states(s) for s in (base, later, earlier))
        torch.testing.assert_close(first[0, :12, :5], second[0, :12, :5])  # " the cat sat " read forwards
        assert not torch.allclose(first[0, 12:, :5], second[0, 12:, :5])
        torch.testing.assert_close(first[0, -10:, 5:], third[0, -10:, 5:])  # " on a mat " read backwards
        assert not torch.allclose(first[0, :-10, 5:], third[0, :-10, 5:])
        words = chars.word_vectors(first, base.boundaries)
    assert words.shape == (1, 6, 10)
    torch.testing.assert_close(words[0, 0, :5], first[0, 4, :5])  # "the": forward state at the space after it
    torch.testing.assert_close(words[0, 0, 5:], first[0, 0, 5:])  # backward state at the space before it


def test_the_loss_starts_near_uniform_and_is_averaged_as_loss_tokens_counts() -> None:
    from tagger.training.step import loss_tokens

    raw = char_lm_config()
    raw["tasks"] = {"upos": {"decoder": "softmax"}}
    config = from_dict(raw)
    seed_everything(1)
    vocab = Vocab.build(SENTENCES, config.tasks)
    model = build_model(config, vocab).train()
    encoder = BatchEncoder.for_embeddings(vocab, config.embeddings)
    outputs = model(encoder.encode(SENTENCES))
    assert outputs[CHAR_LM].loss is not None
    assert abs(float(outputs[CHAR_LM].loss.detach()) - math.log(len(vocab.chars))) < 0.3
    counts = [loss_tokens(s, None, vocab, config.tasks, encoder)[CHAR_LM] for s in SENTENCES]
    assert sum(counts) == encoder.encode(SENTENCES).stream.num_predicted == 12 + 3
    assert CHAR_LM not in model.eval()(encoder.encode(SENTENCES), decode=True)  # a training loss only


def test_config_ties_the_char_lm_to_the_sentence_encoder() -> None:
    raw = char_lm_config()
    raw["embeddings"]["char_encoder"] = "cnn"
    with pytest.raises(ConfigError, match='char_lm.weight: .*char_encoder = "sentence_lstm"'):
        from_dict(raw)
    with pytest.raises(ConfigError, match="char_lm.weight: must be 0 .* got -1"):
        from_dict(char_lm_config(weight=-1))
    raw = char_lm_config(weight=0)
    raw["tasks"] = {"upos": {"decoder": "softmax"}}
    assert build_model(from_dict(raw), Vocab.build(SENTENCES, ["upos"])).char_lm is None


@pytest.fixture(scope="module")
def char_lm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tagger.training import train

    directory = tmp_path_factory.mktemp("char-lm") / "model"
    train(from_dict(char_lm_config(max_epochs=6)), directory)
    return directory


def test_the_character_lm_learns_the_training_text(char_lm_model: Path) -> None:
    from tagger.data import load_sentences
    from tagger.model.predict import Tagger

    tagger = Tagger.load(char_lm_model)
    config = tagger.config
    assert tagger.model.char_lm is not None
    sentences = load_sentences(config.data.train, config.tasks)[:64]
    with torch.no_grad():
        loss = float(tagger.model.train()(tagger.batch_encoder.encode(sentences))[CHAR_LM].loss)
    tagger.model.eval()
    assert loss < 0.75 * math.log(len(tagger.vocab.chars))  # far below guessing among the characters


def test_a_char_lm_model_labels_the_same_everywhere(char_lm_model: Path, tmp_path: Path) -> None:
    import spacy

    from tagger import Tagger
    from tagger.annotate import annotate_file

    texts = ["Maria Lopez moved to Chicago .", "The cat sat ."]
    tagger = Tagger.load(char_lm_model)
    expected = [p.tags["upos"] for p in tagger.predict([t.split() for t in texts])]
    assert [p.tags["upos"] for p in tagger.predict([texts[0].split()])] == expected[:1]  # alone or in a batch
    assert [p.tags["upos"] for p in Tagger.load(char_lm_model).predict([t.split() for t in texts])] == expected
    nlp = spacy.blank("en")
    nlp.add_pipe("birnn_tagger", config={"model": str(char_lm_model)})
    assert [[t.pos_ for t in nlp(text)] for text in texts] == expected
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"tokens": t.split()}) + "\n" for t in texts))
    annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="jsonl", output_format="jsonl"))
    assert [json.loads(line)["tags"]["upos"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == expected
