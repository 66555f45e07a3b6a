"""``tagger debug-data``: the report's counts on small corpora with known faults, its exit status, and the shipped configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.errors import DataFormatError
from tagger.data import load_sentences
from tagger.data.configs import load_config
from tagger.training.debug_data import DataReport, debug_data

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

# (token, upos, ner) rows per sentence.
TRAIN = [
    [("Anna", "PROPN", "B-PER"), ("lives", "VERB", "O"), ("in", "ADP", "O"), ("Paris", "PROPN", "B-LOC"), (".", "PUNCT", "O")],
    [("Bob", "PROPN", "B-PER"), ("works", "VERB", "O"), ("for", "ADP", "O"), ("Acme", "PROPN", "B-ORG"), ("Corp", "PROPN", "I-ORG"), (".", "PUNCT", "O")],
    [("Anna", "PROPN", "B-PER"), ("visited", "VERB", "O"), ("Paris", "PROPN", "B-LOC"), ("and", "CCONJ", "O"), ("Rome", "PROPN", "B-LOC"), (".", "PUNCT", "O")],
    [("Bob", "PROPN", "B-PER"), ("likes", "VERB", "O"), ("Rome", "PROPN", "B-LOC"), (".", "PUNCT", "O")],
]
STRAY = [("the", "DET", "O"), ("city", "NOUN", "O"), ("of", "ADP", "O"), ("Paris", "PROPN", "I-LOC"), ("was", "AUX", "O"), ("busy", "ADJ", "O"), (".", "PUNCT", "O")]
LONG = [("la", "NOUN", "O")] * 1005  # longer than tokenize.LONG_SENTENCE
CLEAN_DEV = [[("Anna", "PROPN", "B-PER"), ("likes", "VERB", "O"), ("Rome", "PROPN", "B-LOC"), (".", "PUNCT", "O")]]
CLEAN_TEST = [[("Bob", "PROPN", "B-PER"), ("visited", "VERB", "O"), ("Paris", "PROPN", "B-LOC"), (".", "PUNCT", "O")]]
# A label of each task that train lacks (MISC, X) and words it never had (met, Zed) or had once (likes).
FAULTY_DEV = [
    [("Anna", "PROPN", "B-PER"), ("met", "VERB", "O"), ("Zed", "X", "B-MISC"), (".", "PUNCT", "O")],
    [("Bob", "PROPN", "B-PER"), ("likes", "VERB", "O"), ("Paris", "PROPN", "B-LOC"), (".", "PUNCT", "O")],
]
FAULTY_TEST = [TRAIN[1], [("Rome", "PROPN", "B-LOC"), ("is", "AUX", "O"), ("nice", "ADJ", "O"), (".", "PUNCT", "O")]]  # one sentence of train

CONFIG = """
[data]
train = {{ path = "{train}", columns = {{ upos = 1, ner = 2 }} }}
{dev}
test = {{ path = "{test}", columns = {{ upos = 1, ner = 2 }} }}
[tasks.upos]
[tasks.ner]
decoder = "crf"
scheme = "BIOES"
[embeddings]
min_freq = 2
{embeddings}
"""


def write_conll(path: Path, sentences: list[list[tuple[str, str, str]]]) -> Path:
    path.write_text("\n\n".join("\n".join("\t".join(row) for row in sentence) for sentence in sentences) + "\n", encoding="utf-8")
    return path


def write_config(tmp_path: Path, train: list, dev: list | None, test: list, embeddings: str = "", name: str = "config.toml") -> Path:
    paths = {split: write_conll(tmp_path / f"{split}.conll", rows) for split, rows in (("train", train), ("test", test))}
    dev_line = ""
    if dev is not None:
        dev_line = f'dev = {{ path = "{write_conll(tmp_path / "dev.conll", dev)}", columns = {{ upos = 1, ner = 2 }} }}'
    config = tmp_path / name
    config.write_text(CONFIG.format(train=paths["train"], test=paths["test"], dev=dev_line, embeddings=embeddings), encoding="utf-8")
    return config


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    return write_config(tmp_path, TRAIN, CLEAN_DEV, CLEAN_TEST)


@pytest.fixture
def faulty(tmp_path: Path) -> Path:
    return write_config(tmp_path, [*TRAIN, STRAY, LONG], FAULTY_DEV, FAULTY_TEST)


def report_of(config: Path, *overrides: str) -> DataReport:
    return debug_data(load_config(config, list(overrides)), str(config))


def test_a_clean_corpus_has_no_warnings_and_passes_strict(clean: Path) -> None:
    report = report_of(clean)
    assert report.warnings == [] and report.errors == []
    assert {split: s.sentences for split, s in report.splits.items()} == {"train": 4, "dev": 1, "test": 1}
    assert report.splits["train"].tasks["ner"].labels == {"PER": 4, "LOC": 4, "ORG": 1}
    assert report.splits["train"].tasks["ner"].tags["S-LOC"] == 4 and report.splits["train"].tasks["ner"].tags["E-ORG"] == 1  # in BIOES
    assert report.splits["train"].tasks["upos"].labels["PROPN"] == 10
    result = runner.invoke(app, ["debug-data", str(clean), "--strict"])
    assert result.exit_code == 0, result.output
    assert "ner: entities" in result.stdout and "0 errors, 0 warnings" in result.output


def test_the_faults_are_counted(faulty: Path) -> None:
    report = report_of(faulty)
    [train_check] = [c for c in report.schemes if c.split == "train"]
    assert (train_check.detected, train_check.scheme, train_check.stray) == ("BIO", "BIOES", 1)
    assert all(c.stray == 0 for c in report.schemes if c.split != "train")
    assert report.splits["train"].tasks["ner"].labels["LOC"] == 5  # the stray I-LOC became a span
    assert report.splits["dev"].unseen == {"ner": {"MISC": 1}, "upos": {"X": 1}}
    assert report.splits["test"].unseen == {}
    overlaps = {(o.first, o.second): o for o in report.overlaps}
    assert overlaps["train", "test"].sentences == 1 and overlaps["train", "test"].examples == ["Bob works for Acme Corp ."]
    assert overlaps["train", "dev"].sentences == overlaps["dev", "test"].sentences == overlaps["train", "train"].sentences == 0
    lengths = report.splits["train"].lengths
    assert lengths is not None and (lengths.long, lengths.max, lengths.min) == (1, 1005, 4)
    # min_freq 2: the 14 training words seen once are left out (lives, in, works, for, ..., was, busy).
    train_words = report.splits["train"].words
    assert (train_words.oov_forms, train_words.oov_tokens) == (14, 14)
    dev_words = report.splits["dev"].words
    assert (dev_words.tokens, dev_words.oov_tokens, dev_words.oov_forms, dev_words.new_forms) == (8, 3, 3, 2)  # met, Zed, likes; new: met, Zed
    assert report.vectors is None and report.errors == []
    assert len(report.warnings) == 4, report.warnings
    stray, long, unseen, overlap = report.warnings  # schemes, then split by split, then overlaps
    assert "1 stray I- tags of task 'ner'" in stray and "train.conll" in stray
    assert long.startswith("train: 1 sentences are longer than 200 tokens")
    assert unseen.startswith("dev: ") and "MISC x1" in unseen and "X x1" in unseen
    assert "1 test sentences are also in train" in overlap


def test_strict_exits_1_on_warnings_and_json_is_the_report(faulty: Path) -> None:
    assert runner.invoke(app, ["debug-data", str(faulty)]).exit_code == 0
    result = runner.invoke(app, ["debug-data", str(faulty), "--strict", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["splits"]["dev"]["unseen"] == {"ner": {"MISC": 1}, "upos": {"X": 1}} and len(data["warnings"]) == 4
    assert "warning:" in result.stderr and "4 warnings" in result.stderr


def test_the_tables_print_shares_and_thousands(faulty: Path) -> None:
    result = runner.invoke(app, ["debug-data", str(faulty)])
    assert "3 (37.5%)" in result.stdout  # dev: 3 of its 8 tokens are unknown
    assert "1,005" in result.stdout  # the longest training sentence
    assert "labels never seen in train" in result.stdout and "MISC" in result.stdout


def test_a_strict_task_reports_the_stray_tag_as_training_does(faulty: Path) -> None:
    config = load_config(faulty, ["tasks.ner.strict=true"])
    with pytest.raises(DataFormatError) as raised:
        load_sentences(config.data.train, config.tasks)
    report = debug_data(config)
    assert report.errors == [f"train: {raised.value}"]
    line = (faulty.parent / "train.conll").read_text().splitlines().index("Paris\tPROPN\tI-LOC") + 1
    assert f"train.conll:{line}:" in report.errors[0]
    assert [c.stray for c in report.schemes if c.split == "train"] == [1]  # still counted, the rest still reported
    assert report.splits["dev"].unseen and not any("stray" in w for w in report.warnings)
    result = runner.invoke(app, ["debug-data", str(faulty), "--set", "tasks.ner.strict=true"])
    assert result.exit_code == 1 and "error: train:" in result.stderr and "1 errors" in result.stderr


def test_vector_coverage(tmp_path: Path) -> None:
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("paris 0.1 0.2\nanna 0.3 0.4\nrome 0.5 0.6\nmet 0.7 0.8\nzebra 0.9 1.0\n", encoding="utf-8")
    config = write_config(tmp_path, TRAIN, FAULTY_DEV, CLEAN_TEST, embeddings=f'pretrained = "{vectors}"')
    report = report_of(config)
    train_tokens = sum(map(len, TRAIN))
    assert report.vectors is not None and report.vectors.dim == 2 and report.vectors.vectors == 5
    assert report.vectors.training_tokens == round(6 / train_tokens, 4)  # Paris, Anna and Rome, twice each
    dev = report.splits["dev"].words
    assert (dev.new_forms, dev.new_forms_with_vector) == (2, 1)  # met has a vector, Zed none
    assert dev.oov_tokens == 2  # Zed, likes: met joined the vocabulary with its vector
    assert report.vocabulary.max_vectors == 200_000
    assert any("reach only" in w for w in report.warnings)  # 6 of 21 training tokens


def test_vectors_that_cannot_be_found_are_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, TRAIN, CLEAN_DEV, CLEAN_TEST, embeddings=f'pretrained = "{tmp_path / "nowhere.txt"}"')
    result = runner.invoke(app, ["debug-data", str(config), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["vectors"] is None and data["errors"] == []
    assert [w for w in data["warnings"] if "nowhere.txt" in w]
    # A catalogue name is looked for, not downloaded.
    from tagger.data import catalogue
    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(catalogue, "fetch", lambda *args: pytest.fail("debug-data downloaded the vectors"))
    report = report_of(config, 'embeddings.pretrained="glove-6b-50d"')
    assert report.vectors is None and any("would download them" in w for w in report.warnings)


def test_missing_dev_and_a_task_without_labels(tmp_path: Path) -> None:
    report = report_of(write_config(tmp_path, TRAIN, None, CLEAN_TEST))
    assert "dev" not in report.splits and any("no dev set" in w for w in report.warnings)

    dev = tmp_path / "dev.jsonl"  # JSONL with UPOS only
    dev.write_text(json.dumps({"tokens": ["Anna", "likes", "Rome"], "tags": {"upos": ["PROPN", "VERB", "PROPN"]}}) + "\n", encoding="utf-8")
    report = report_of(write_config(tmp_path, TRAIN, None, CLEAN_TEST), f'data.dev="{dev}"')
    assert report.splits["dev"].tasks["ner"].sentences == 0 and report.splits["dev"].tasks["upos"].tokens == 3
    assert any("dev has no labels of task 'ner'" in w for w in report.warnings)


def test_a_task_without_training_labels_is_an_error(tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"tokens": ["Anna", "sings"], "tags": {"upos": ["PROPN", "VERB"]}}) + "\n", encoding="utf-8")
    config = write_config(tmp_path, TRAIN, CLEAN_DEV, CLEAN_TEST)
    report = report_of(config, f'data.train="{train}"')
    assert len(report.errors) == 1 and "tasks.ner" in report.errors[0]
    assert report.splits["train"].tasks["upos"].labels == {"PROPN": 1, "VERB": 1}
    result = runner.invoke(app, ["debug-data", str(config), "--set", f'data.train="{train}"'])
    assert result.exit_code == 1 and "tasks.ner" in result.stderr


def test_bad_config_or_corpus_is_one_line_error(clean: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["debug-data", str(clean), "--set", "encoder.hiden_size=3"])
    assert result.exit_code == 1 and "encoder.hiden_size" in result.stderr
    missing = tmp_path / "missing.conll"
    result = runner.invoke(app, ["debug-data", str(clean), "--set", f'data.train="{missing}"'])
    assert result.exit_code == 1 and str(missing) in result.stderr.replace("\n", "")
    broken = write_conll(tmp_path / "broken.conll", [[("Anna", "PROPN", "B-PER"), ("x", "X", "PER")]])
    result = runner.invoke(app, ["debug-data", str(clean), "--set", f'data.dev={{ path = "{broken}", columns = {{ upos = 1, ner = 2 }} }}'])
    assert result.exit_code == 1 and f"{broken}:2" in result.stderr.replace("\n", "")


def test_quickstart_config() -> None:
    config = load_config(ROOT / "configs" / "quickstart.toml")
    report = debug_data(config)
    assert report.splits["train"].sentences == len(load_sentences(config.data.train, config.tasks))
    assert set(report.splits["train"].tasks["ner"].labels) == {"PER", "ORG", "LOC"}
    assert {(c.split, c.detected, c.scheme) for c in report.schemes} == {(s, "BIO", "BIOES") for s in ("train", "dev", "test")}
    result = runner.invoke(app, ["debug-data", str(ROOT / "configs" / "quickstart.toml"), "--strict"])
    assert result.exit_code == 0, result.output


def test_uner_config_on_the_real_corpora(shared_corpora: Path) -> None:
    result = runner.invoke(app, ["debug-data", str(ROOT / "configs" / "uner-en-ewt-ner.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["splits"]["dev"]["sentences"] >= 2001 and data["splits"]["train"]["sentences"] >= 12543
    assert set(data["splits"]["train"]["tasks"]["ner"]["labels"]) == {"PER", "ORG", "LOC"}
    assert len(data["splits"]["train"]["tasks"]["upos"]["labels"]) == 17
    assert {(c["source"], c["detected"], c["stray"]) for c in data["schemes"]} == {
        (f"uner-en-ewt:{split}", "BIO", 0) for split in ("train", "dev", "test")}
    assert data["vectors"] is None and data["errors"] == []
    assert data["splits"]["dev"]["words"]["oov_tokens"] > 0  # min_freq 2, no vectors: some dev words are unknown
