"""No silent mistakes: unlabelled tokens are not scored, unseen labels are named, errors point somewhere."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tagger.cli import app
from tagger.config import TaskConfig
from tagger.evaluation import score, unseen_labels
from tagger.readers import read_corpus
from tagger.types import NO_LABEL, Prediction, Sentence
from tagger.vocab import Vocab

PARTLY = """# sent_id = a
1	Anna	Anna	PROPN	NNP	_	2	nsubj	_	_
2	smiled	smile	_	_	_	0	root	_	_
3	.	.	PUNCT	.	_	2	punct	_	_

"""


def test_an_underscore_in_conllu_upos_is_no_label(tmp_path: Path) -> None:
    path = tmp_path / "partly.conllu"
    path.write_text(PARTLY, encoding="utf-8")
    sentence = next(read_corpus(path))
    assert sentence.tags["upos"] == ["PROPN", NO_LABEL, "PUNCT"] and sentence.tags["xpos"] == ["NNP", NO_LABEL, "."]
    assert NO_LABEL not in Vocab.build([sentence], ["upos", "xpos"]).labels["upos"]
    scores = score([sentence], [Prediction(sentence.tokens, {"upos": ["PROPN", "VERB", "NOUN"]})], {"upos": TaskConfig()})
    assert scores["upos"].metrics == {"accuracy": 0.5, "tokens": 2.0}  # the unlabelled token counts neither way


def test_labels_the_model_never_saw_are_named_with_their_counts(trained_tiny_model: Path, tmp_path: Path) -> None:
    gold = [Sentence(["a", "b", "c"], {"upos": ["NOUN", "SYM", "SYM"], "ner": ["B-MISC", "E-MISC", "S-PER"]})]
    tasks = {"upos": TaskConfig(), "ner": TaskConfig(decoder="crf", scheme="BIOES")}
    line = unseen_labels(gold, {"upos": {"NOUN"}, "ner": {"O", "S-PER", "B-PER", "E-PER"}}, tasks)
    assert line == "labels the model never saw in training (scored as errors): upos: SYM x2; ner: MISC x2"
    assert unseen_labels(gold, {"upos": {"NOUN", "SYM"}, "ner": {"B-MISC", "S-PER"}}, tasks) == ""
    path = tmp_path / "odd.conllu"
    path.write_text(PARTLY.replace("PUNCT\t.", "NOSUCHTAG\t."), encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", str(trained_tiny_model), str(path)])
    assert result.exit_code == 0, result.output
    assert "never saw in training (scored as errors): upos: NOSUCHTAG x1" in " ".join(result.output.split())


def test_a_tag_that_is_no_span_tag_is_named_with_its_line(tmp_path: Path) -> None:
    import pytest

    from tagger.config import SourceConfig
    from tagger.data import load_sentences
    from tagger.errors import DataFormatError

    path = tmp_path / "bad.conll"
    path.write_text("Anna B-PER\nworks O\n\nin O\nOslo LOC\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad.conll:5: task 'ner': 'LOC' is not a span tag"):
        load_sentences([SourceConfig(path=str(path))], {"ner": TaskConfig(decoder="crf", scheme="BIOES")})


def test_an_unknown_corpus_is_named_with_the_catalogue(trained_tiny_model: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", str(trained_tiny_model), "nosuchcorpus:test"])
    assert result.exit_code == 1
    assert "unknown corpus 'nosuchcorpus'; the catalogue has:" in " ".join(result.output.split()) and "ud-en-ewt" in result.output


def test_invalid_toml_is_reported_once_with_its_file(tmp_path: Path) -> None:
    import pytest

    from tagger.config import load_config
    from tagger.errors import ConfigError

    path = tmp_path / "bad.toml"
    path.write_text("seed = 1\n[data\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: invalid TOML: ") and "(at line 2" in str(error.value)
