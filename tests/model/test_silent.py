"""No silent mistakes: unlabelled tokens are not scored, unseen labels are named, errors point somewhere."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tagger.analysis.evaluation import score, unseen_labels
from tagger.cli import app
from tagger.core.config import TaskConfig
from tagger.core.tasks import TaskSpec
from tagger.core.types import NO_LABEL, Prediction, Sentence
from tagger.core.vocab import Vocab
from tagger.data.readers import read_corpus

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
    scores = score([sentence], [Prediction(sentence.tokens, {"upos": ["PROPN", "VERB", "NOUN"]})], {"upos": TaskSpec.of("upos", TaskConfig())})
    assert scores["upos"].metrics == {"accuracy": 0.5, "tokens": 2.0}  # the unlabelled token counts neither way


def test_labels_the_model_never_saw_are_named_with_their_counts(trained_tiny_model: Path, tmp_path: Path) -> None:
    gold = [Sentence(["a", "b", "c"], {"upos": ["NOUN", "SYM", "SYM"], "ner": ["B-MISC", "E-MISC", "S-PER"]})]
    upos, ner = TaskConfig(), TaskConfig(decoder="crf", scheme="BIOES")
    tasks = {"upos": TaskSpec.of("upos", upos, ["NOUN"]), "ner": TaskSpec.of("ner", ner, ["O", "S-PER", "B-PER", "E-PER"])}
    line = unseen_labels(gold, tasks)
    assert line == "labels the model never saw in training (scored as errors): upos: SYM x2; ner: MISC x2"
    tasks = {"upos": TaskSpec.of("upos", upos, ["NOUN", "SYM"]), "ner": TaskSpec.of("ner", ner, ["B-MISC", "S-PER"])}
    assert unseen_labels(gold, tasks) == ""
    path = tmp_path / "odd.conllu"
    path.write_text(PARTLY.replace("PUNCT\t.", "NOSUCHTAG\t."), encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", str(trained_tiny_model), str(path)])
    assert result.exit_code == 0, result.output
    assert "never saw in training (scored as errors): upos: NOSUCHTAG x1" in " ".join(result.output.split())


def test_a_tag_that_is_no_span_tag_is_named_with_its_line(tmp_path: Path) -> None:
    import pytest

    from tagger.core.config import SourceConfig
    from tagger.core.errors import DataFormatError
    from tagger.data import load_sentences

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

    from tagger.core.errors import ConfigError
    from tagger.data.configs import load_config

    path = tmp_path / "bad.toml"
    path.write_text("seed = 1\n[data\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: invalid TOML: ") and "(at line 2" in str(error.value)


BAD_CONFIG_VALUES = [
    ("training.eval_batch_size", "0"), ("training.patience", "-1"), ("training.warmup_steps", "-3"), ("training.clip_norm", "-1"),
    ("embeddings.char_kernel", "0"), ("embeddings.char_kernel", "4"), ("embeddings.max_word_chars", "0"), ("training.threads", "-1"),
    ("training.learning_rate", "-1"), ("training.betas", "[1.5, 0.9]"), ("training.betas", "[0.9]"), ("training.weight_decay", "-0.5"),
    ("training.device", '"gpu"'), ("lang", '"xx-nope"'), ("embeddings.dropout", "1.0"), ("masked_lm.rate", "1.5"),
    ("masked_lm.cutoffs", "[0]"), ("training.max_minutes", "-2"), ("data.max_train_sentences", "-5"), ("pretrain.checkpoint_every", "0"),
]


def test_every_value_out_of_range_is_an_error_naming_its_key(tmp_path: Path) -> None:
    import pytest
    from conftest import tiny_config_dict

    from tagger.core.config import from_dict
    from tagger.core.errors import ConfigError
    from tagger.data.configs import load_config

    path = tmp_path / "tiny.toml"
    path.write_text('[tasks.upos]\ndecoder = "softmax"\n', encoding="utf-8")
    for key, value in BAD_CONFIG_VALUES:
        with pytest.raises(ConfigError) as error:
            load_config(path, [f"{key}={value}"])
        assert error.value.key.startswith(key), (key, value, str(error.value))
    from_dict(tiny_config_dict())  # the shipped defaults and the tests' tiny config are in range


def test_a_cuda_device_on_a_machine_without_one_is_a_config_error(tmp_path: Path) -> None:
    import pytest
    import torch
    from conftest import tiny_config_dict

    from tagger.core.config import from_dict
    from tagger.core.errors import ConfigError
    from tagger.training import train

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    raw = tiny_config_dict()
    raw["training"]["device"] = "cuda"
    with pytest.raises(ConfigError, match="training.device: 'cuda', but this machine has no CUDA"):
        train(from_dict(raw), tmp_path / "model")


def test_the_python_api_raises_one_documented_error(trained_tiny_model: Path) -> None:
    import pytest
    import torch

    from tagger import Tagger
    from tagger.core.errors import ConfigError, InputError, TaggerError

    tagger = Tagger.load(trained_tiny_model)
    for bad in (None, 123, b"bytes", [["a", 1]], {"Anna": 1}, ["ok", "\ud800"], [["a", "\udfff"]], [None]):
        with pytest.raises(InputError) as error:
            tagger.predict(bad)  # type: ignore[arg-type]
        assert isinstance(error.value, TaggerError) and isinstance(error.value, ValueError)
    with pytest.raises(ConfigError, match="batch_size: must be at least 1, got 0"):  # a run option: a ValueError too
        tagger.predict(["Anna smiled ."], batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device: 'cuda', but this machine has no CUDA"):
            Tagger.load(trained_tiny_model, device="cuda")
    with pytest.raises(ConfigError, match="device: 'toaster' is not \"auto\""):
        Tagger.load(trained_tiny_model, device="toaster")
    assert (Path(__import__("tagger").__file__).parent / "py.typed").is_file()


def test_options_out_of_range_are_usage_errors(trained_tiny_model: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    source = tmp_path / "in.txt"
    source.write_text("Anna smiled .\n", encoding="utf-8")
    for options in (["--batch-size", "0"], ["--workers", "0"], ["--threads", "-1"]):
        result = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(source), "-o", str(tmp_path / "o.jsonl"), *options])
        assert result.exit_code == 2 and options[0] in result.output, (options, result.output)
    assert not (tmp_path / "o.jsonl").exists()
    served = subprocess.run([sys.executable, str(Path(__file__).parents[2] / "serve.py"), "--model", str(trained_tiny_model),
                             "--port", "99999"], capture_output=True, text=True, timeout=60)
    assert served.returncode == 2 and "--port: must be in [1, 65535], got 99999" in served.stderr and "Traceback" not in served.stderr
