"""The predictor's Python API: pre-tokenized input said explicitly, run options given by name, a model
that stays on the device it was loaded on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger import RunOptions, Tagger, TaggerError
from tagger.core.errors import InputError

TOKENS = ["Maria", "Lopez", "moved", "to", "Chicago", "."]


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


def test_a_flat_list_is_texts_unless_it_is_said_to_be_tokens(tagger: Tagger) -> None:
    texts = tagger.predict(TOKENS)
    assert len(texts) == len(TOKENS) and texts[0].tokens == ["Maria"]  # six texts of one word
    one = tagger.predict(TOKENS, pretokenized=True)
    assert one.tokens == TOKENS and one.text is None  # one sentence, its tokens as given
    assert tagger.predict(iter(TOKENS), pretokenized=True) == one  # any iterable of tokens
    several = tagger.predict([TOKENS, ["Hi", "there"]], pretokenized=True)
    assert [p.tokens for p in several] == [TOKENS, ["Hi", "there"]] == [p.tokens for p in tagger.predict([TOKENS, ["Hi", "there"]])]
    assert several[0] == one
    for bad, says in (("Maria moved .", "not a string"), ([TOKENS, "Hi"], "mixes strings and lists"), (None, "not NoneType")):
        with pytest.raises(InputError, match=says):
            tagger.predict(bad, pretokenized=True)  # type: ignore[arg-type]


def test_run_options_are_named_and_the_device_stays_where_the_model_was_loaded(trained_tiny_model: Path, tagger: Tagger) -> None:
    import copy

    import torch

    with pytest.raises(TypeError, match=r"name the field, e.g. Tagger.load\(path, device='cpu'\)"):
        Tagger.load(trained_tiny_model, "cpu")  # type: ignore[arg-type]
    elsewhere = copy.copy(tagger)
    elsewhere.device = torch.device("meta")  # as if loaded on another device than the one asked for next
    with pytest.raises(TaggerError, match="the model is on meta: load it with device='cpu' to run it there"):
        elsewhere.set_run_options(RunOptions(device="cpu"), "the model")
    assert tagger.run == RunOptions()

