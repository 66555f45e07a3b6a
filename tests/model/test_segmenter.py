"""The learned segmenter: units, lexicon features, tags and their decoding, training data from corpora,
and a tagger that carries one, through Tagger.predict, annotate, info, the spaCy tokenizer and export-spacy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpus_fixtures import TINY, write_ud_vi, write_uner_zh
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.tasks import SEGMENT
from tagger.core.types import Sentence
from tagger.model.segmenter import Lexicon, Segmentation, decode, kind, unit_sentence, units, windows, word_tags
from tagger.training.segmenter import Document, find_words, join, read_corpus, separator_of, surface_tokens, word_scores

runner = CliRunner()


# ---------------------------------------------------------------- units, features, tags


def test_units_are_the_characters_that_are_not_whitespace() -> None:
    assert units("Hà Nội\tđẹp") == [0, 1, 3, 4, 5, 7, 8, 9]
    assert units("  \n") == []


def test_lexicon_finds_words_across_spaces_and_gives_their_lengths() -> None:
    lexicon = Lexicon(["Hà Nội", "Hà  Nội", "a", "北京大学", "北京"])
    assert lexicon.words == {"Hà Nội", "北京大学", "北京"}  # whitespace runs as one space; one-unit words left out
    text = "tới Hà\u00a0Nội"  # a no-break space between the syllables
    starts, ends = lexicon.matches(text, units(text))
    assert starts[3] == "5" and ends[7] == "5"  # "Hà Nội": 5 units, from the H to the i
    assert starts[0] == "-" and ends[0] == "-"
    starts, ends = lexicon.matches("在北京大学", units("在北京大学"))
    assert starts == ["-", "2,4", "-", "-", "-"] and ends == ["-", "-", "2", "-", "4"]


def test_unit_sentence_marks_a_unit_after_whitespace_and_reads_its_bigram_and_kind() -> None:
    sentence = unit_sentence("Hà Nội.", Lexicon([]))
    assert sentence.tokens == ["\u2581H", "à", "\u2581N", "ộ", "i", "."]
    assert sentence.features["bigram"][1] == "à\u2581N" and sentence.features["bigram"][-1] == ".</s>"
    assert sentence.features["kind"] == ["Lu", "Ll", "Lu", "Ll", "Ll", "Po"]
    assert kind("国") == "CJK" and kind("ก") == "THAI"


def test_tags_and_decoding_give_back_the_words_and_sentences() -> None:
    text = "我爱北京。他去上海。"
    words = [(0, 1), (1, 2), (2, 4), (4, 5), (5, 6), (6, 7), (7, 9), (9, 10)]
    tags = word_tags(units(text), words, {4})
    assert tags[:4] == ["S-S", "S-W", "B-W", "E-W"] and tags[5] == "S-S"
    bio = [tag.replace("S-", "B-", 1).replace("E-", "I-", 1) for tag in tags]  # as predictions come: BIO
    assert decode(units(text), bio) == Segmentation(words, [0, 4])


def test_windows_tile_a_long_text_with_context_on_both_sides() -> None:
    assert windows(10) == [(0, 10, 0, 10)]
    tiles = windows(1000, size=400, overlap=50)
    kept = [k for _, _, start, end in tiles for k in range(start, end)]
    assert kept == list(range(1000))
    assert all(end - start <= 400 for start, end, _, _ in tiles)
    assert all(keep_start - start >= 50 or start == 0 for start, _, keep_start, _ in tiles)


# ---------------------------------------------------------------- training data


def test_find_words_matches_words_that_hold_spaces_and_refuses_other_text() -> None:
    assert find_words("Tôi yêu Hà  Nội .", ["Tôi", "yêu", "Hà Nội", "."]) == [(0, 3), (4, 7), (8, 15), (16, 17)]
    assert find_words("我爱北京", ["我", "爱", "北京"]) == [(0, 1), (1, 2), (2, 4)]
    assert find_words("我爱北京", ["我", "恨", "北京"]) is None
    assert find_words("HàNội", ["Hà Nội"]) is None  # the word's space is not in the text


def test_surface_tokens_put_multiword_tokens_back() -> None:
    sentence = Sentence(["de", "o", "Brasil"], meta={"multiword": [[0, 2, "do"]]})
    assert surface_tokens(sentence) == ["do", "Brasil"]


def test_join_shifts_offsets_and_marks_sentence_starts() -> None:
    joined = join([Document("我爱。", [(0, 1), (1, 2), (2, 3)], [0]), Document("好。", [(0, 1), (1, 2)], [0])], "")
    assert joined.text == "我爱。好。" and joined.words[3] == (3, 4) and joined.sentence_starts == [0, 3]


def test_separator_is_nothing_for_text_without_spaces() -> None:
    zh = read_corpus([Sentence(["我", "爱"], text="我爱", meta={"source": "a"})])
    vi = read_corpus([Sentence(["Tôi", "yêu"], text="Tôi yêu", meta={"source": "a"})])
    assert (separator_of(zh), separator_of(vi)) == ("", " ")


def test_read_corpus_skips_sentences_whose_words_are_not_their_text_and_splits_documents() -> None:
    corpus = read_corpus([
        Sentence(["a", "b"], text="a b", meta={"source": "f", "newdoc id": "1"}),
        Sentence(["c"], text="c", meta={"source": "f"}),
        Sentence(["x"], text="y", meta={"source": "f"}),
        Sentence(["d"], text=None, meta={"source": "f"}),
        Sentence(["e"], text="e", meta={"source": "f", "newdoc id": "2"}),
    ])
    assert corpus.skipped == 2 and [len(d) for d in corpus.documents] == [2, 1]


def test_word_scores_count_words_and_sentences_by_offsets() -> None:
    gold = Segmentation([(0, 1), (1, 3), (3, 4)], [0, 2])
    found = Segmentation([(0, 1), (1, 2), (2, 3), (3, 4)], [0])
    scores = word_scores([gold], [found])
    assert scores["words_precision"] == pytest.approx(50.0) and scores["words_recall"] == pytest.approx(200 / 3)
    assert scores["sentences_f1"] == 0.0


# ---------------------------------------------------------------- a tagger that carries a segmenter


@pytest.fixture(scope="module")
def zh_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Chinese NER model trained from a catalogue name the project has no config for (its segmenter too)."""
    import os

    data = tmp_path_factory.mktemp("data")
    name = write_uner_zh(data)
    output = tmp_path_factory.mktemp("models") / "zh"
    old = os.environ.get("BIRNN_TAGGER_DATA")
    os.environ["BIRNN_TAGGER_DATA"] = str(data)
    try:
        result = runner.invoke(app, ["train", name, "-o", str(output), *[f"--set={value}" for value in TINY],
                                     "--set=masked_lm.weight=0.3"])
    finally:
        if old is None:
            del os.environ["BIRNN_TAGGER_DATA"]
        else:
            os.environ["BIRNN_TAGGER_DATA"] = old
    assert result.exit_code == 0, result.output
    return output


def test_one_command_trains_and_scores_a_dataset_no_config_names(zh_model: Path) -> None:
    config = json.loads((zh_model / "config.json").read_text())
    assert config["lang"] == "zh" and config["segmenter"]["train"] is True and list(config["tasks"]) == ["ner"]
    meta = json.loads((zh_model / "meta.json").read_text())
    assert meta["scores"]["test"]["ner"]["f1"] > 0.8  # the templates are easy: a model that learned nothing scores 0
    segmentation = json.loads((zh_model / "segmenter" / "meta.json").read_text())["segmentation"]
    assert segmentation["separator"] == "" and segmentation["scores"]["test"]["sentences"]["words_f1"] > 90


def test_raw_chinese_text_is_labelled_in_the_corpus_words(zh_model: Path) -> None:
    from tagger import Tagger

    tagger = Tagger.load(zh_model)
    text = "王芳在上海工作。李明是人民银行的老师。"
    prediction = tagger.predict(text)
    assert prediction.tokens == ["王芳", "在", "上海", "工作", "。", "李明", "是", "人民银行", "的", "老师", "。"]
    assert all(text[start:end] == token for token, (start, end) in zip(prediction.tokens, prediction.offsets))
    assert [(s.label, text[s.start_char:s.end_char]) for s in prediction.spans["ner"]] == [
        ("PER", "王芳"), ("LOC", "上海"), ("PER", "李明"), ("ORG", "人民银行")]
    assert prediction.meta["sentence_starts"] == [5]


def test_hard_text_still_gives_words_with_offsets(zh_model: Path) -> None:
    from tagger import Tagger

    tagger = Tagger.load(zh_model)
    long_line = "王芳在上海工作" * 300  # 2,100 characters and no sentence end: labelled in windows
    texts = ["", "   ", "ﬁ☃🙂 Ωμέγα 123 abc", "王芳 likes 上海 , ok", long_line]
    for text, prediction in zip(texts, tagger.predict(texts)):
        assert all(start < end and text[start:end].strip() for start, end in prediction.offsets or [])
        covered = "".join(text[start:end] for start, end in prediction.offsets or [])
        assert covered.replace(" ", "") == "".join(text.split())  # every character that is not whitespace, once
    assert tagger.predict(long_line).tokens[:4] == ["王芳", "在", "上海", "工作"]


def test_the_segmenter_is_checked_like_the_model(zh_model: Path, tmp_path: Path) -> None:
    import shutil

    from tagger import Tagger
    from tagger.core.errors import ModelFormatError, TaggerError
    from tagger.model.segmenter import Segmenter

    copy = tmp_path / "copy"
    shutil.copytree(zh_model, copy)
    vocab = copy / "segmenter" / "vocab.json"
    vocab.write_text(vocab.read_text(encoding="utf-8").replace("北京", "东京"), encoding="utf-8")
    with pytest.raises(ModelFormatError, match="segmenter/vocab.json"):
        Tagger.load(copy)
    shutil.rmtree(copy / "segmenter")
    with pytest.raises(ModelFormatError, match="segmenter is missing"):
        Tagger.load(copy)
    with pytest.raises(TaggerError, match="is a segmenter"):
        Tagger.load(zh_model / "segmenter")
    assert Segmenter.load(zh_model / "segmenter").segment(["王芳在上海。"])[0].words == [(0, 2), (2, 3), (3, 5), (5, 6)]


def test_info_and_annotate_use_the_segmenter(zh_model: Path, tmp_path: Path) -> None:
    shown = runner.invoke(app, ["info", str(zh_model)])
    assert shown.exit_code == 0 and "segmenter" in shown.output and "words F1" in shown.output
    docs = tmp_path / "docs.txt"
    docs.write_text("张伟在北京工作。\n陈静是清华大学的老师。\n", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(zh_model), str(docs), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[0]["tokens"] == ["张伟", "在", "北京", "工作", "。"]
    assert [s["label"] for s in records[1]["spans"]["ner"]] == ["PER", "ORG"]


def test_the_service_and_fill_mask_read_text_through_the_segmenter(zh_model: Path) -> None:
    from fastapi.testclient import TestClient

    from tagger import Tagger
    from tagger.service import create_app

    with TestClient(create_app(zh_model, token="")) as client:
        answer = client.post("/annotate", json={"texts": ["陈静在广州工作。", ["陈静", "在"]]})
    assert answer.status_code == 200
    first, second = answer.json()["results"]
    assert first["tokens"] == ["陈静", "在", "广州", "工作", "。"] and first["offsets"][2] == [3, 5]
    assert second["tokens"] == ["陈静", "在"]  # token lists pass through
    filled = Tagger.load(zh_model).fill_mask("陈静在[MASK]工作。")[0]
    assert filled.tokens == ["陈静", "在", "<mask>", "工作", "。"] and filled.blanks[0].position == 2


def test_spacy_pipeline_with_the_segmenter_as_tokenizer(zh_model: Path, tmp_path: Path) -> None:
    import spacy

    from tagger.spacy.tokenizer import TOKENIZER

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER, "model": str(zh_model)}}})
    nlp.add_pipe("birnn_tagger", config={"model": str(zh_model)})
    text = "刘洋在南京工作。 陈静是中国科学院的老师。"
    doc = nlp(text)
    assert doc.text == text
    assert [t.text for t in doc][:5] == ["刘洋", "在", "南京", "工作", "。"]
    assert [s.text for s in doc.sents] == ["刘洋在南京工作。", "陈静是中国科学院的老师。"]
    assert [(e.text, e.label_) for e in doc.ents] == [("刘洋", "PER"), ("南京", "LOC"), ("陈静", "PER"), ("中国科学院", "ORG")]
    odd = ["  王芳\n\n在上海 工作。 ", "", "\t李明。"]
    assert [d.text for d in nlp.tokenizer.pipe(odd)] == odd  # whitespace kept as spaCy keeps it
    assert [t.text for t in nlp.tokenizer(odd[0]) if not t.is_space] == ["王芳", "在", "上海", "工作", "。"]
    from tagger.core.errors import TaggerError
    from tagger.spacy.tokenizer import SegmenterTokenizer

    copied = SegmenterTokenizer(nlp.vocab).from_bytes(nlp.tokenizer.to_bytes())
    assert [t.text for t in copied(text)] == [t.text for t in doc]
    with pytest.raises(TaggerError, match="tokenizer 'birnn_tagger.Segmenter.v1': bytes are not a serialized segmenter"):
        SegmenterTokenizer(nlp.vocab).from_bytes(b"\x00not msgpack")
    with pytest.raises(TaggerError, match="has no segmenter"):
        SegmenterTokenizer(nlp.vocab)("text")
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [(t.text, t.ent_iob_) for t in loaded(text)] == [(t.text, t.ent_iob_) for t in doc]
    assert [t.text for t in spacy.blank("zh").tokenizer(text)][:3] == ["刘", "洋", "在"]  # what spaCy alone makes of it
    exported = runner.invoke(app, ["export-spacy", str(zh_model), str(tmp_path / "exported")])
    assert exported.exit_code == 0, exported.output
    assert [t.text for t in spacy.load(tmp_path / "exported")(text)] == [t.text for t in doc]


def test_vietnamese_words_keep_their_spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A UD treebank in Vietnamese by name: UPOS and a segmenter whose words hold spaces; no pyvi needed."""
    from tagger import Tagger

    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path / "data"))
    name = write_ud_vi(tmp_path / "data")
    result = runner.invoke(app, ["train", name, "-o", str(tmp_path / "vi"), *[f"--set={value}" for value in TINY]])
    assert result.exit_code == 0, result.output
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "vi"), f"{name}:test", "--json"])
    assert json.loads(evaluated.stdout.strip().splitlines()[-1])[f"{name}:test"]["scores"]["upos"]["accuracy"] > 0.9
    prediction = Tagger.load(tmp_path / "vi").predict("Phạm Hùng làm việc ở Hà Nội .")
    assert prediction.tokens == ["Phạm Hùng", "làm việc", "ở", "Hà Nội", "."]
    assert prediction.tags["upos"] == ["PROPN", "VERB", "ADP", "PROPN", "PUNCT"]
    import spacy

    from tagger.spacy.tokenizer import TOKENIZER

    nlp = spacy.blank("vi", config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER, "model": str(tmp_path / "vi")}}})
    nlp.add_pipe("birnn_tagger", config={"model": str(tmp_path / "vi")})
    doc = nlp("Phạm  Hùng làm\nviệc ở Hà Nội .")  # words that hold other whitespace than one space
    assert [(t.text, t.pos_) for t in doc if not t.is_space][1:3] == [("làm\nviệc", "VERB"), ("ở", "ADP")]
    assert doc[0].text == "Phạm  Hùng" and doc[0].pos_ == "PROPN"


def test_a_segmenter_trained_alone_is_carried_by_another_model(zh_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import tiny_config_dict

    from tagger import Tagger
    from tagger.core.config import from_dict
    from tagger.training import train

    config = tiny_config_dict(limit=40)
    config["segmenter"] = {"model": str(zh_model)}  # a model directory that holds one
    trained = train(from_dict(config), tmp_path / "carrier")
    assert (trained.output_dir / "segmenter" / "vocab.json").read_bytes() == (zh_model / "segmenter" / "vocab.json").read_bytes()
    assert Tagger.load(tmp_path / "carrier").predict("王芳在上海。").tokens == ["王芳", "在", "上海", "。"]
    config["segmenter"] = {"model": str(tmp_path / "carrier" / "config.json")}
    from tagger.core.errors import TaggerError

    with pytest.raises(TaggerError):
        train(from_dict(config), tmp_path / "other")


def test_the_segmenter_network_takes_none_of_the_taggers_auxiliary_heads(tiny_config) -> None:  # noqa: ANN001
    from dataclasses import replace

    from tagger.core.config import CharLMConfig, MaskedLMConfig
    from tagger.training.segmenter import segmenter_config

    config = replace(tiny_config, masked_lm=MaskedLMConfig(weight=0.5), char_lm=CharLMConfig(weight=0.1), init_from="models/x")
    built = segmenter_config(config)
    assert (built.masked_lm.weight, built.char_lm.weight, built.init_from) == (0.0, 0.0, "")
    assert list(built.tasks) == [SEGMENT] and built.segmenter.train is False


def test_a_language_whose_spacy_tokenizer_needs_a_package_fails_when_read(tmp_path: Path) -> None:
    import importlib.util

    from conftest import tiny_config_dict

    from tagger.core.errors import ConfigError
    from tagger.data.configs import load_config

    if importlib.util.find_spec("sudachipy") is not None:
        pytest.skip("sudachipy is installed here: spaCy's Japanese tokenizer works")
    config = tmp_path / "ja.toml"
    config.write_text('lang = "ja"\n[data]\ntrain = "sample:train"\n[tasks.upos]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lang: .*needs sudachipy sudachidict_core: pip install sudachipy.*segmenter\] train = true"):
        load_config(config)
    assert load_config(config, ["segmenter.train=true"]).segmenter.train  # a segmenter reads raw text instead
    from tagger.core.config import from_dict
    from tagger.core.errors import TaggerError
    from tagger.core.vocab import Vocab
    from tagger.model.predict import Tagger
    from tagger.nn.model import build_model

    ja = from_dict({**tiny_config_dict(), "lang": "ja"})
    vocab = Vocab.build([Sentence(["a"], {"upos": ["X"], "ner": ["O"]})], ja.tasks)
    with pytest.raises(TaggerError, match="needs sudachipy"):  # a model in that language: when it loads
        Tagger(build_model(ja, vocab), vocab, ja)


def test_an_unknown_corpus_name_is_not_trained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path))
    result = runner.invoke(app, ["train", "ud-vi-nowhere", "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "ud-vi-nowhere:train" in result.output and "not found" in result.output  # not ":train:" as 🚋
    result = runner.invoke(app, ["train", "uner-zh-gsdsimpp", "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "uner-zh-gsdsimp" in result.output  # a close match is named
    assert not (tmp_path / "m").exists()


def test_resume_keeps_a_finished_segmenter_and_trains_the_tagger(zh_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from tagger.core.config import from_dict
    from tagger.data.configs import corpus_config
    from tagger.training import train

    copy = tmp_path / "zh"
    shutil.copytree(zh_model / "segmenter", copy / "segmenter")  # as a run stopped after its segmenter
    segmenter = (copy / "segmenter" / "model.safetensors").read_bytes()
    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path / "data"))
    write_uner_zh(tmp_path / "data")
    _, raw = corpus_config("uner-zh-tiny")  # type: ignore[misc]
    from tagger.core.config import apply_override

    for value in TINY:
        apply_override(raw, value)
    raw["training"]["max_epochs"] = 2
    result = train(from_dict(raw), copy, resume=True)
    assert (copy / "segmenter" / "model.safetensors").read_bytes() == segmenter  # not trained again
    assert result.best_epoch >= 1 and (copy / "model.safetensors").is_file()


def test_a_segmenter_model_in_such_a_language_trains_and_loads_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from tagger import Tagger
    from tagger.data.configs import load_config
    from tagger.training import train

    if importlib.util.find_spec("sudachipy") is not None:
        pytest.skip("sudachipy is installed here")
    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    name = write_uner_zh(tmp_path / "data")
    (tmp_path / name).mkdir()  # a folder named like the corpus here does not hide it
    config = load_config(name, [*TINY, 'lang="ja"', "training.max_epochs=2", "segmenter.max_epochs=2"])
    assert config.lang == "ja" and config.segmenter.train
    train(config, tmp_path / "ja")
    assert Tagger.load(tmp_path / "ja").segmenter is not None


def test_seeds_share_one_segmenter_and_an_output_holding_one_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tagger import Tagger

    monkeypatch.setenv("BIRNN_TAGGER_DATA", str(tmp_path / "data"))
    name = write_uner_zh(tmp_path / "data")
    small = [f"--set={value}" for value in [*TINY, "training.max_epochs=2", "segmenter.max_epochs=3"]]
    result = runner.invoke(app, ["train", name, "-o", str(tmp_path / "zh"), "--seeds", "1,2", *small])
    assert result.exit_code == 0, result.output
    assert result.output.count("training the segmenter") == 1
    for seed in (1, 2):
        config = json.loads((tmp_path / "zh" / f"seed-{seed}" / "config.json").read_text())
        assert config["segmenter"]["model"] == str(tmp_path / "zh" / "segmenter")
    assert Tagger.load(tmp_path / "zh").predict("王芳在上海。").tokens == ["王芳", "在", "上海", "。"]
    trained = (tmp_path / "zh" / "segmenter" / "model.safetensors").read_bytes()
    again = runner.invoke(app, ["train", name, "-o", str(tmp_path / "zh"), *small])
    assert again.exit_code == 1 and "already holds a model" in again.output and "segmenter" in again.output
    resumed = runner.invoke(app, ["train", name, "-o", str(tmp_path / "zh"), "--seeds", "1,2", "--resume", *small])
    assert resumed.exit_code == 0 and "training the segmenter" not in resumed.output
    assert (tmp_path / "zh" / "segmenter" / "model.safetensors").read_bytes() == trained


def test_a_segmenter_folder_the_model_does_not_name_is_not_part_of_it(zh_model: Path, tmp_path: Path) -> None:
    import shutil

    from conftest import tiny_config_dict

    from tagger import Tagger
    from tagger.core.config import from_dict
    from tagger.training import train

    shutil.copytree(zh_model / "segmenter", tmp_path / "en" / "segmenter")  # left by another model
    train(from_dict(tiny_config_dict(limit=40)), tmp_path / "en", overwrite=True)
    tagger = Tagger.load(tmp_path / "en")
    assert tagger.segmenter is None and tagger.predict("John lives in Paris.").tokens == ["John", "lives", "in", "Paris", "."]
