"""The spaCy component ``birnn_tagger`` with real spaCy (``spacy.blank``): entry point, attributes,
config, batching, serialization, ``tagger export-spacy`` and ``nlp.evaluate``."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import spacy
import srsly
from conftest import SAMPLE
from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.training import Example
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.errors import ConfigError, TaggerError
from tagger.core.schemes import tags_to_spans
from tagger.data.readers import read_corpus
from tagger.model.predict import Tagger

runner = CliRunner()
COMPONENT_FILES = {"config.json", "vocab.json", "model.safetensors", "meta.json"}

# Sentences of the sample training corpus (the tiny model finds entities in them), with extra
# spaces and blank lines, so that whitespace tokens fall inside, between and around entities.
TEXTS = [
    "We hired Blue Sky Movers to move us from Chicago to Denver.",
    "I had dinner at Luigi's Trattoria last Friday and it was fantastic.",
    "Our waiter,  Sam, checked on us without being annoying.",
    "Hi Jenny,\n\nTom mentioned that the figures from Northwind  Logistics might have changed.",
    "  Mike at Dalton Auto Repair explained exactly what was wrong with my car.\n\nBest regards,  Linda Chen\n",
    "great little coffee shop near Union Square!",
]


def token_rows(doc: Doc) -> list[tuple[str, str, str, str]]:
    return [(t.text, t.pos_, t.ent_iob_, t.ent_type_) for t in doc]


def ent_rows(doc: Doc) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.label_) for e in doc.ents]


def expected_from_tagger(tagger: Tagger, doc: Doc) -> tuple[list[str], list[tuple[int, int, str]]]:
    """What the bare tagger says about the Doc's text: UPOS of the non-space tokens, entities as Doc token spans."""
    prediction = tagger.predict(doc.text)
    words = [t for t in doc if not t.is_space]
    assert prediction.tokens == [t.text for t in words]  # same tokenizer: the comparison below is token by token
    ents = [(words[s.start].i, words[s.end - 1].i + 1, s.label) for s in prediction.spans["ner"]]
    return prediction.tags["upos"], ents


@pytest.fixture(scope="module")
def bare(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


@pytest.fixture(scope="module")
def nlp(trained_tiny_model: Path) -> Language:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model)})
    return pipeline


def run_python(script: str, *args: str, cwd: Path) -> str:
    """Run a script in a fresh interpreter, away from the checkout, and return its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


# 1. Entry point


def test_entry_point_factory_works_without_importing_tagger(trained_tiny_model: Path, nlp: Language, tmp_path: Path) -> None:
    script = """
        import json, sys
        import spacy
        before = "tagger" in sys.modules
        nlp = spacy.blank("en")
        component = nlp.add_pipe("birnn_tagger", config={"model": sys.argv[1]})
        loaded = "tagger.model.predict" in sys.modules  # an existing model folder loads in the factory
        doc = nlp(sys.argv[2])
        print(json.dumps({
            "before": before, "loaded": loaded,
            "module": type(component).__module__,
            "pos": [t.pos_ for t in doc], "ents": [[e.start, e.end, e.label_] for e in doc.ents],
        }))
    """
    text = TEXTS[0]
    result = json.loads(run_python(script, str(trained_tiny_model), text, cwd=tmp_path).strip().splitlines()[-1])
    assert result["before"] is False
    assert result["module"] == "tagger.spacy.component"
    assert result["loaded"] is True
    doc = nlp(text)
    assert doc.ents, "the tiny model should find an entity in a training sentence"
    assert result["pos"] == [t.pos_ for t in doc] and all(result["pos"])
    assert result["ents"] == [list(row) for row in ent_rows(doc)]


# 2. Attributes


def test_labels_equal_the_bare_tagger_on_the_same_text(nlp: Language, bare: Tagger) -> None:
    found_ents = spaces = 0
    for text in TEXTS:
        doc = nlp(text)
        upos, ents = expected_from_tagger(bare, doc)
        assert [t.pos_ for t in doc if not t.is_space] == upos
        assert ent_rows(doc) == ents
        # Character offsets agree too: the tagger maps its spans back onto the raw text.
        prediction = bare.predict(text)
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == [
            (s.start_char, s.end_char, s.label) for s in prediction.spans["ner"]
        ]
        for token in doc:
            assert token.pos_, f"{token.text!r} has no pos"
            assert token.ent_iob_ in ("B", "I", "O"), f"{token.text!r} has no entity annotation"
            if token.is_space:
                spaces += 1
                assert token.pos_ == "SPACE"
        for ent in doc.ents:
            assert not ent[0].is_space and not ent[-1].is_space, f"{ent.text!r} starts or ends with whitespace"
        found_ents += len(doc.ents)
    assert found_ents >= 3 and spaces >= 5  # the checks above were not vacuous


def test_whitespace_inside_an_entity_is_kept_but_never_at_its_edges(nlp: Language, bare: Tagger) -> None:
    text = "We hired  Blue  Sky  Movers  to move us."
    doc = nlp(text)
    upos, ents = expected_from_tagger(bare, doc)
    assert ent_rows(doc) == ents
    assert [t.pos_ for t in doc if not t.is_space] == upos
    assert [t.pos_ for t in doc if t.is_space] == ["SPACE"] * 4
    for ent in doc.ents:
        assert not doc[ent.start].is_space and not doc[ent.end - 1].is_space


def test_a_missing_model_fails_at_add_pipe(tmp_path: Path) -> None:
    pipeline = spacy.blank("en")
    with pytest.raises(TaggerError, match="no-such-model"):
        pipeline.add_pipe("birnn_tagger", config={"model": str(tmp_path / "no-such-model")})
    assert "birnn_tagger" not in pipeline.pipe_names


# 3. attrs


def test_attrs_send_ner_to_a_span_group_and_leave_upos_unwritten(trained_tiny_model: Path, nlp: Language) -> None:
    pipeline = spacy.blank("en")
    component = pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "attrs": {"ner": "spans.found", "upos": ""}})
    text = TEXTS[0]
    expected = ent_rows(nlp(text))
    assert expected
    doc = pipeline(text)
    assert [(s.start, s.end, s.label_) for s in doc.spans["found"]] == expected
    assert doc.ents == ()
    assert all(t.pos_ == "" for t in doc)
    assert component.targets == {"ner": "spans.found"}


def test_attrs_send_upos_to_a_token_extension(trained_tiny_model: Path, nlp: Language) -> None:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "attrs": {"upos": "_.coarse"}})
    text = TEXTS[2]
    reference = nlp(text)
    doc = pipeline(text)
    assert Token.has_extension("coarse")
    assert [t._.coarse for t in doc if not t.is_space] == [t.pos_ for t in reference if not t.is_space]
    assert all(t._.coarse is None for t in doc if t.is_space)
    assert all(t.pos_ == "" for t in doc)  # not written to pos as well
    assert ent_rows(doc) == ent_rows(reference)  # ner keeps its default target


@pytest.mark.parametrize(
    ("attrs", "key"),
    [
        ({"upos": "nonsense"}, "attrs.upos"),
        ({"ner": "pos"}, "attrs.ner"),
        ({"upos": "ents"}, "attrs.upos"),
        ({"upos": "spans."}, "attrs.upos"),
        ({"nosuchtask": "tag"}, "attrs.nosuchtask"),
    ],
)
def test_invalid_attrs_raise_config_error_when_added(trained_tiny_model: Path, attrs: dict[str, str], key: str) -> None:
    pipeline = spacy.blank("en")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as raised:
        pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "attrs": attrs})
    assert raised.value.key == key
    assert "birnn_tagger" not in pipeline.pipe_names


def test_invalid_attrs_of_a_model_loaded_later_fail_on_first_use(trained_tiny_model: Path) -> None:
    """A pipeline whose model comes with from_bytes checks attrs then, and stays unconfigured."""
    model_bytes = spacy.blank("en").add_pipe("birnn_tagger", config={"model": str(trained_tiny_model)}).to_bytes()
    component = spacy.blank("en").add_pipe("birnn_tagger", config={"attrs": {"ner": "pos"}})
    with pytest.raises(ConfigError, match=r"attrs\.ner"):
        component.from_bytes(model_bytes)
    with pytest.raises(TaggerError, match="has no model"):
        component(spacy.blank("en")("Hi Jenny."))


# 4. overwrite_ents

PRESET: list[tuple[int, int, str]] = []


@Language.component("test_birnn_preset_ents")
def _preset_ents(doc: Doc) -> Doc:
    doc.ents = [Span(doc, start, end, label=label) for start, end, label in PRESET]
    return doc


@pytest.mark.parametrize("overwrite", [False, True])
def test_overwrite_ents(trained_tiny_model: Path, nlp: Language, overwrite: bool) -> None:
    text = TEXTS[0]
    model_ents = ent_rows(nlp(text))
    assert len(model_ents) >= 2, "the test needs two model entities"
    first_start, first_end, _ = model_ents[0]
    outside = next(i for i in range(len(nlp(text))) if not any(s <= i < e for s, e, _ in model_ents))
    # One entity on a token the model leaves outside, one on the last token of its first entity.
    PRESET[:] = sorted([(outside, outside + 1, "PRESET"), (first_end - 1, first_end, "OVERLAP")])
    pipeline = spacy.blank("en")
    pipeline.add_pipe("test_birnn_preset_ents")
    pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "overwrite_ents": overwrite})
    doc = pipeline(text)
    if overwrite:
        assert ent_rows(doc) == model_ents
    else:
        # The entity overlapping OVERLAP goes; the others (none touches PRESET) are added.
        assert ent_rows(doc) == sorted(PRESET + model_ents[1:])
        assert model_ents[0] not in ent_rows(doc)
    ents = ent_rows(doc)
    assert all(a[1] <= b[0] for a, b in zip(ents, ents[1:]))  # sorted and non-overlapping
    assert all(t.ent_iob_ in ("B", "I", "O") for t in doc)


def test_existing_entities_from_the_entity_ruler_are_kept(trained_tiny_model: Path, nlp: Language) -> None:
    text = TEXTS[0]
    model_ents = ent_rows(nlp(text))
    pipeline = spacy.blank("en")
    pipeline.add_pipe("entity_ruler").add_patterns([{"label": "MOVERS", "pattern": "Movers"}, {"label": "ME", "pattern": "us"}])
    pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model)})
    doc = pipeline(text)
    ruled = {(e.text, e.label_) for e in doc.ents} & {("Movers", "MOVERS"), ("us", "ME")}
    assert ruled == {("Movers", "MOVERS"), ("us", "ME")}
    taken = {i for e in doc.ents if e.label_ in ("MOVERS", "ME") for i in range(e.start, e.end)}
    assert {e for e in ent_rows(doc) if e[2] not in ("MOVERS", "ME")} == {
        e for e in model_ents if not taken.intersection(range(e[0], e[1]))
    }


# 5. scores


def test_scores_extension_matches_the_tagger_probabilities(trained_tiny_model: Path, bare: Tagger) -> None:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "scores": True})
    for text in TEXTS[2:4]:
        doc = pipeline(text)
        expected = bare.predict(text, scores=True).scores
        words = [t for t in doc if not t.is_space]
        assert len(words) < len(doc)  # the texts have whitespace tokens
        for n, token in enumerate(words):
            values = token._.birnn_scores
            assert isinstance(values, dict) and set(values) == {"upos", "ner"}
            for task, value in values.items():
                assert isinstance(value, float) and 0.0 <= value <= 1.0
                assert value == pytest.approx(expected[task][n], abs=1e-5)
        assert all(t._.birnn_scores is None for t in doc if t.is_space)
        # Not every probability is 1: the scores are the model's, not a constant.
        assert len({round(t._.birnn_scores["upos"], 4) for t in words}) > 1


def test_extensions_readable_after_multiprocess_pipe_on_a_fresh_pipeline(trained_tiny_model: Path) -> None:
    if Token.has_extension("birnn_scores"):
        Token.remove_extension("birnn_scores")
    name = f"coarse_mp_{random.Random().randrange(10**9)}"
    try:
        pipeline = spacy.blank("en")
        pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "scores": True, "attrs": {"upos": f"_.{name}"}})
        docs = list(pipeline.pipe(TEXTS[:2], n_process=2))
        assert isinstance(docs[0][0]._.birnn_scores, dict)
        assert docs[0][0]._.get(name)
    finally:
        if not Token.has_extension("birnn_scores"):
            Token.set_extension("birnn_scores", default=None)


# 6. Batching, multiprocessing, sentences


def varied_texts() -> list[str]:
    sentences = [" ".join(s.tokens) for s in read_corpus(SAMPLE / "dev.conll", columns={"upos": 1, "ner": 2})]
    texts = ["", "   \n "] + TEXTS
    for n in range(12):
        texts.append("  ".join(sentences[3 * n: 3 * n + (n % 4) + 1]))  # 1 to 4 sentences
    return texts


def test_pipe_in_batches_equals_one_doc_at_a_time(trained_tiny_model: Path, nlp: Language) -> None:
    texts = varied_texts()
    assert len(texts) == 20
    one_by_one = [token_rows(nlp(text)) for text in texts]
    assert one_by_one[0] == [] and [row[1] for row in one_by_one[1]] == ["SPACE"]
    assert sum(row[2] == "B" for rows in one_by_one for row in rows) >= 3
    assert [token_rows(doc) for doc in nlp.pipe(texts, batch_size=3)] == one_by_one
    # Small encoder batches inside the component (padding, bucketing) change nothing either.
    small = spacy.blank("en")
    small.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "batch_size": 2})
    assert [token_rows(doc) for doc in small.pipe(texts, batch_size=3)] == one_by_one
    assert [token_rows(doc) for doc in small.pipe(texts, batch_size=3, n_process=2)] == one_by_one


def test_docs_with_sentence_boundaries_are_labelled_sentence_by_sentence(trained_tiny_model: Path, bare: Tagger) -> None:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("sentencizer")
    pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model)})
    text = "We hired Blue Sky Movers to move us from Chicago to Denver.  Hi Jenny!\n\nOur waiter, Sam, was great. Thanks, Rachel"
    doc = pipeline(text)
    sentences = list(doc.sents)
    assert len(sentences) >= 3
    assert all(t.pos_ for t in doc)
    total_ents = 0
    for sentence in sentences:
        words = [t for t in sentence if not t.is_space]
        if not words:
            continue
        prediction = bare.predict([[t.text for t in words]])[0]
        assert [t.pos_ for t in words] == prediction.tags["upos"]
        ents = [(words[s.start].i, words[s.end - 1].i + 1, s.label) for s in prediction.spans["ner"]]
        assert [(e.start, e.end, e.label_) for e in doc.ents if sentence.start <= e.start < sentence.end] == ents
        total_ents += len(ents)
    assert total_ents == len(doc.ents) >= 1
    for ent in doc.ents:
        assert ent.sent.start <= ent.start and ent.end <= ent.sent.end


# 7. Alignment with other tokenizations


def test_docs_with_any_tokenization_get_a_label_on_every_token(nlp: Language, bare: Tagger) -> None:
    words = ["Mar", "ia", "Lo-pez", "moved.to", "Chi", "cago", "\n\n", "New York", "yesterday!!", "  ", "(", "Blue", "Sky", "Movers", ")"]
    spaces = [False, True, True, True, False, False, False, True, True, False, False, True, True, False, False]
    doc = nlp(Doc(nlp.vocab, words=words, spaces=spaces))
    assert [t.text for t in doc] == words
    assert all(t.pos_ for t in doc)
    assert [t.pos_ for t in doc if t.is_space] == ["SPACE", "SPACE"]
    words_only = [t for t in doc if not t.is_space]
    expected = bare.predict([[t.text for t in words_only]])[0]
    assert [t.pos_ for t in words_only] == expected.tags["upos"]
    assert ent_rows(doc) == [(words_only[s.start].i, words_only[s.end - 1].i + 1, s.label) for s in expected.spans["ner"]]
    assert all(not e[0].is_space and not e[-1].is_space for e in doc.ents)


# 8. Serialization


def test_to_disk_loads_in_a_fresh_process_without_the_model_folder(trained_tiny_model: Path, nlp: Language, tmp_path: Path) -> None:
    copy = tmp_path / "model-copy"
    shutil.copytree(trained_tiny_model, copy)
    pipeline = spacy.blank("en")
    pipeline.add_pipe("birnn_tagger", config={"model": str(copy)})
    expected = [[[t.pos_ for t in doc], [list(e) for e in ent_rows(doc)]] for doc in map(nlp, TEXTS)]
    assert [[[t.pos_ for t in doc], [list(e) for e in ent_rows(doc)]] for doc in map(pipeline, TEXTS)] == expected
    pipeline.to_disk(tmp_path / "pipeline")
    shutil.rmtree(copy)
    assert str(copy) in (tmp_path / "pipeline" / "config.cfg").read_text()  # the config still names the deleted folder

    component_dir = tmp_path / "pipeline" / "birnn_tagger"
    assert {p.name for p in component_dir.iterdir()} == COMPONENT_FILES
    for path in (tmp_path / "pipeline").rglob("*"):
        assert path.suffix not in (".pkl", ".pickle", ".pt", ".pth", ".bin") or path.name == "lookups.bin"
        if path.is_file() and path.name != "lookups.bin":
            head = path.read_bytes()[:2]
            assert not (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")), f"{path} is a pickle"

    script = """
        import json, sys
        import spacy
        nlp = spacy.load(sys.argv[1])
        texts = json.loads(sys.argv[2])
        print(json.dumps([[[t.pos_ for t in doc], [[e.start, e.end, e.label_] for e in doc.ents]] for doc in nlp.pipe(texts)]))
    """
    loaded = json.loads(run_python(script, str(tmp_path / "pipeline"), json.dumps(TEXTS), cwd=tmp_path).strip().splitlines()[-1])
    assert loaded == expected


def test_to_bytes_round_trip_into_a_pipeline_without_a_model(nlp: Language) -> None:
    data = nlp.to_bytes()
    fresh = spacy.blank("en")
    fresh.add_pipe("birnn_tagger")
    fresh.from_bytes(data)
    for text in TEXTS:
        assert token_rows(fresh(text)) == token_rows(nlp(text))
    assert fresh.get_pipe("birnn_tagger").labels == nlp.get_pipe("birnn_tagger").labels
    # The component's own bytes hold the model's four files, nothing else.
    assert set(srsly.msgpack_loads(nlp.get_pipe("birnn_tagger").to_bytes())) == COMPONENT_FILES


def test_a_component_without_a_model_says_how_to_give_it_one() -> None:
    pipeline = spacy.blank("en")
    component = pipeline.add_pipe("birnn_tagger")
    assert component.labels == ()
    with pytest.raises(TaggerError, match="has no model") as raised:
        pipeline("Hello world.")
    assert "model" in str(raised.value) and "config=" in str(raised.value)
    with pytest.raises(TaggerError, match="has no model"):
        pipeline.to_bytes()


def _garbage_inputs(nlp: Language) -> Iterator[tuple[str, bytes]]:
    yield "random bytes", random.Random(5).randbytes(256)
    yield "empty", b""
    yield "msgpack int", srsly.msgpack_dumps(1)
    yield "msgpack list", srsly.msgpack_dumps([b"x"])
    yield "map without the model files", srsly.msgpack_dumps({"weights": b"x"})
    files = srsly.msgpack_loads(nlp.get_pipe("birnn_tagger").to_bytes())
    yield "truncated weights", srsly.msgpack_dumps({**files, "model.safetensors": files["model.safetensors"][:100]})
    yield "config not JSON", srsly.msgpack_dumps({**files, "config.json": b"\xff{"})


def test_from_bytes_with_garbage_raises_tagger_error(nlp: Language) -> None:
    for what, data in _garbage_inputs(nlp):
        component = spacy.blank("en").add_pipe("birnn_tagger")
        with pytest.raises(TaggerError, match="birnn_tagger"):
            component.from_bytes(data)
        assert component.labels == (), what  # nothing half-loaded


def test_pipeline_from_bytes_with_a_garbage_component_raises_tagger_error(nlp: Language) -> None:
    parts = srsly.msgpack_loads(nlp.to_bytes())
    parts["birnn_tagger"] = b"not a model"
    fresh = spacy.blank("en")
    fresh.add_pipe("birnn_tagger")
    with pytest.raises(TaggerError, match="not a serialized model"):
        fresh.from_bytes(srsly.msgpack_dumps(parts))


@pytest.mark.parametrize("entry", ["vocab.json={}", "vocab.json=5", "meta.json=int", "config.json=[]", "model.safetensors=int", "model.safetensors=junk"])
def test_from_bytes_with_malformed_model_files_raises_tagger_error(nlp: Language, entry: str) -> None:
    files = srsly.msgpack_loads(nlp.get_pipe("birnn_tagger").to_bytes())
    name, _, value = entry.partition("=")
    files[name] = 5 if value == "int" else value.encode()
    with pytest.raises(TaggerError):
        spacy.blank("en").add_pipe("birnn_tagger").from_bytes(srsly.msgpack_dumps(files))


# 9. tagger export-spacy


def export(*args: str):  # noqa: ANN201 - click's Result
    return runner.invoke(app, ["export-spacy", *args])


def test_export_spacy_writes_a_pipeline_that_labels_like_the_tagger(trained_tiny_model: Path, bare: Tagger, tmp_path: Path) -> None:
    out = tmp_path / "pipeline"
    result = export(str(trained_tiny_model), str(out))
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob(".*partial*"))
    loaded = spacy.load(out)
    assert loaded.pipe_names == ["birnn_tagger"]
    assert {p.name for p in (out / "birnn_tagger").iterdir()} == COMPONENT_FILES
    found = 0
    for text in TEXTS:
        doc = loaded(text)
        upos, ents = expected_from_tagger(bare, doc)
        assert [t.pos_ for t in doc if not t.is_space] == upos
        assert ent_rows(doc) == ents
        found += len(ents)
    assert found

    meta = json.loads((out / "meta.json").read_text())
    assert meta["lang"] == "en" and meta["pipeline"] == ["birnn_tagger"]
    assert meta["name"] and all(c.isdigit() or c == "_" or "a" <= c <= "z" for c in meta["name"])
    assert any(r.startswith("birnn-tagger") for r in meta["requirements"])
    assert meta["version"] == "0.0.0"
    assert {"sample:train", "sample:dev"} <= {source["name"] for source in meta["sources"]}
    # The fixture model was trained without test data: nothing to report as performance.
    assert not json.loads((trained_tiny_model / "meta.json").read_text())["scores"].get("test")
    assert meta["performance"] == {}
    assert set(meta["labels"]["birnn_tagger"]) >= {"PROPN", "PER", "ORG", "LOC"}


def test_export_spacy_reports_test_scores_as_spacy_performance(trained_tiny_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "scored-model"
    shutil.copytree(trained_tiny_model, model)
    meta = json.loads((model / "meta.json").read_text())
    meta["scores"]["test"] = {"upos": {"accuracy": 0.875, "tokens": 100.0},
                              "ner": {"precision": 0.5, "recall": 0.25, "f1": 1 / 3, "support": 8.0, "per_label": {}}}
    (model / "meta.json").write_text(json.dumps(meta))
    result = export(str(model), str(tmp_path / "out"), "--version", "1.2.3")
    assert result.exit_code == 0, result.output
    exported = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert exported["performance"] == {"pos_acc": 0.875, "ents_p": 0.5, "ents_r": 0.25, "ents_f": pytest.approx(1 / 3)}
    assert exported["version"] == "1.2.3"
    assert exported["name"] == "scored_model"


def test_export_spacy_refuses_an_occupied_folder_unless_overwrite(trained_tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "pipeline"
    assert export(str(trained_tiny_model), str(out)).exit_code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    result = export(str(trained_tiny_model), str(out), "--name", "other")
    assert result.exit_code == 1
    assert str(out) in result.output.replace("\n", "") and "not empty" in result.output
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

    (out / "stray.txt").write_text("left by someone")
    result = export(str(trained_tiny_model), str(out), "--overwrite", "--name", "My Model!")
    assert result.exit_code == 0, result.output
    assert not (out / "stray.txt").exists()
    assert json.loads((out / "meta.json").read_text())["name"] == "my_model"
    assert spacy.load(out).pipe_names == ["birnn_tagger"]
    assert not list(tmp_path.glob(".*partial*"))

    # A folder holding anything else is protected just the same; an empty one is fine.
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    result = export(str(trained_tiny_model), str(other))
    assert result.exit_code == 1 and (other / "keep.txt").read_text() == "mine" and len(list(other.iterdir())) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export(str(trained_tiny_model), str(empty)).exit_code == 0 and (empty / "meta.json").is_file()


def test_export_spacy_with_a_missing_model_fails_cleanly(tmp_path: Path) -> None:
    result = export(str(tmp_path / "no-model"), str(tmp_path / "out"))
    assert result.exit_code == 1 and "no-model" in result.output
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*partial*"))


# 10. nlp.evaluate


def test_nlp_evaluate_scores_pos_and_ents_like_the_tagger(nlp: Language, bare: Tagger) -> None:
    gold = list(read_corpus(SAMPLE / "test.conll", columns={"upos": 1, "ner": 2}))
    examples = [
        Example(Doc(nlp.vocab, words=s.tokens), Doc(nlp.vocab, words=s.tokens, pos=s.tags["upos"], ents=s.tags["ner"]))
        for s in gold
    ]
    scores = nlp.evaluate(examples)
    assert {"pos_acc", "ents_p", "ents_r", "ents_f"} <= set(scores)
    assert 0.0 <= scores["pos_acc"] <= 1.0 and 0.0 <= scores["ents_f"] <= 1.0

    predictions = bare.predict([s.tokens for s in gold])
    correct = sum(g == p for s, pred in zip(gold, predictions) for g, p in zip(s.tags["upos"], pred.tags["upos"]))
    assert scores["pos_acc"] == pytest.approx(correct / sum(len(s) for s in gold))
    gold_spans = {(n, s.start, s.end, s.label) for n, g in enumerate(gold) for s in tags_to_spans(g.tags["ner"], "BIO")}
    found = {(n, s.start, s.end, s.label) for n, p in enumerate(predictions) for s in p.spans["ner"]}
    true = len(gold_spans & found)
    assert gold_spans
    precision = true / len(found) if found else 0.0
    recall = true / len(gold_spans)
    assert scores["ents_p"] == pytest.approx(precision)
    assert scores["ents_r"] == pytest.approx(recall)
    assert scores["ents_f"] == pytest.approx(2 * precision * recall / (precision + recall) if true else 0.0)
