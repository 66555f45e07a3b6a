"""The spaCy component ``birnn_tagger``: its torch threads (fixed, or following the machine's load: the policy itself is tests/core/test_threads.py),
a wrong model path failing at ``add_pipe`` while a saved pipeline loads without its model folder,
``nlp.update`` refusing with how to train and freeze it, and the label map (on Docs and in HTML)."""

from __future__ import annotations

import dataclasses
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import spacy
import torch
from conftest import FakeMachine
from spacy.language import Language
from spacy.training import Example

from tagger.core.errors import ConfigError, TaggerError
from tagger.core.runtime import ThreadPolicy

TEXT = "We hired Blue Sky Movers to move us from Chicago to Denver."
TEXTS = [TEXT, "Hi Jenny, Tom mentioned that the figures from Northwind Logistics might have changed.",
         "Mike at Dalton Auto Repair explained exactly what was wrong with my car."]


@pytest.fixture(autouse=True)
def torch_threads() -> Iterator[None]:
    """Each test may set torch's threads; the next starts with what it had."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def add(model: Path | None = None, **config: object) -> Language:
    pipeline = spacy.blank("en")
    pipeline.add_pipe("birnn_tagger", config={**({"model": str(model)} if model else {}), **config})
    return pipeline


def ents(doc) -> list[tuple[int, int, str]]:  # noqa: ANN001 - a Doc
    return [(e.start, e.end, e.label_) for e in doc.ents]


# 1. Threads


@pytest.mark.parametrize("threads", [1, 3])
def test_a_fixed_threads_key_sets_torch_threads_before_each_batch(trained_tiny_model: Path, threads: int) -> None:
    pipeline = add(trained_tiny_model, threads=threads)
    assert pipeline.get_pipe("birnn_tagger").run.threads == threads
    torch.set_num_threads(2 if threads != 2 else 1)
    pipeline(TEXT)
    assert torch.get_num_threads() == threads
    torch.set_num_threads(5)  # someone else changed it: the next batch sets it back
    list(pipeline.pipe(TEXTS))
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("threads", [-1, 1_000_000])
def test_a_threads_key_out_of_range_is_a_config_error_at_add_pipe(trained_tiny_model: Path, threads: int) -> None:
    pipeline = spacy.blank("en")
    with pytest.raises(ConfigError, match=rf"threads: must be in \[0, 1024\], got {threads}"):  # RunOptions' words
        pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "threads": threads})
    assert "birnn_tagger" not in pipeline.pipe_names


def test_the_component_applies_its_policy_before_each_batch(trained_tiny_model: Path) -> None:
    pipeline = add(trained_tiny_model)
    component = pipeline.get_pipe("birnn_tagger")
    assert component.run.threads == 0
    machine = FakeMachine()
    component.tagger.threads = ThreadPolicy(0, read=machine.read, clock=lambda: machine.now)
    machine.run(1.0, idle_cpus=0, own_cores=1.0)  # three cores busy with others
    torch.set_num_threads(4)
    pipeline(TEXT)
    assert torch.get_num_threads() == 1
    machine.run(1.0, idle_cpus=3, own_cores=1.0)  # quiet again
    list(pipeline.pipe(TEXTS))
    assert torch.get_num_threads() == 4


def test_a_long_batch_has_the_policy_applied_before_each_model_batch(trained_tiny_model: Path) -> None:
    """The policy is the Tagger's, applied before each of its batches: a machine that gets busy in the middle of a
    spaCy batch of long Docs gets fewer threads a model batch later, and the labels do not change."""
    pipeline = add(trained_tiny_model, threads=1)
    texts = TEXTS * 4
    one_by_one = [([t.pos_ for t in doc], ents(doc)) for doc in map(pipeline, texts)]
    applied: list[int] = []

    class Counting(ThreadPolicy):
        def apply(self) -> int:
            applied.append(1)
            return super().apply()

    tagger = pipeline.get_pipe("birnn_tagger").tagger
    tagger.threads = Counting(1)
    tagger.set_run_options(dataclasses.replace(tagger.run, batch_size=2))
    tagger.threads = Counting(1)
    assert [([t.pos_ for t in doc], ents(doc)) for doc in pipeline.pipe(texts, batch_size=100)] == one_by_one
    assert len(applied) == 6  # 12 sentences, two a batch


# 2. The model path


def test_a_model_path_that_does_not_exist_fails_at_add_pipe(tmp_path: Path) -> None:
    pipeline = spacy.blank("en")
    missing = tmp_path / "no-such-model"
    with pytest.raises(TaggerError, match="no-such-model") as raised:
        pipeline.add_pipe("birnn_tagger", config={"model": str(missing)})
    assert "no such model directory" in str(raised.value) and "birnn_tagger" in str(raised.value)
    assert "birnn_tagger" not in pipeline.pipe_names


@pytest.mark.parametrize("left_behind", ["nothing", "an empty folder"])
def test_a_saved_pipeline_loads_and_labels_without_its_original_model_folder(trained_tiny_model: Path, tmp_path: Path,
                                                                              left_behind: str) -> None:
    copy = tmp_path / "model-copy"
    shutil.copytree(trained_tiny_model, copy)
    pipeline = add(copy)
    expected = [([t.pos_ for t in doc], ents(doc)) for doc in pipeline.pipe(TEXTS)]
    pipeline.to_disk(tmp_path / "pipeline")
    shutil.rmtree(copy)
    if left_behind == "an empty folder":  # the config's path now names something that is not that model
        copy.mkdir()
    assert str(copy) in (tmp_path / "pipeline" / "config.cfg").read_text()
    loaded = spacy.load(tmp_path / "pipeline")
    assert [([t.pos_ for t in doc], ents(doc)) for doc in loaded.pipe(TEXTS)] == expected
    assert any(e for _, e in expected)


def test_a_pipeline_built_from_a_config_with_a_missing_model_fails_at_initialize(trained_tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model-copy"
    shutil.copytree(trained_tiny_model, copy)
    config = add(copy).config
    shutil.rmtree(copy)
    built = spacy.util.load_model_from_config(config)  # as spacy.load and spacy train do: from_disk may follow
    with pytest.raises(TaggerError, match="model-copy"):
        built.initialize()


# 3. Training through spaCy


def examples(pipeline: Language) -> list[Example]:
    return [Example.from_dict(pipeline.make_doc(TEXT), {"cats": {"A": 1.0, "B": 0.0}}),
            Example.from_dict(pipeline.make_doc(TEXTS[1]), {"cats": {"A": 0.0, "B": 1.0}})]


def test_nlp_update_says_how_to_train_and_freeze_the_component(trained_tiny_model: Path) -> None:
    pipeline = add(trained_tiny_model)
    with pytest.raises(TaggerError) as raised:
        pipeline.update(examples(pipeline))
    message = str(raised.value)
    assert "tagger train" in message and "frozen_components" in message and "exclude" in message


def test_nlp_update_trains_other_components_beside_a_frozen_one(trained_tiny_model: Path) -> None:
    pipeline = add(trained_tiny_model)
    pipeline.add_pipe("textcat")
    train = examples(pipeline)
    with pipeline.select_pipes(disable=["birnn_tagger"]):
        pipeline.initialize(lambda: train)
        losses = pipeline.update(train)
    assert "textcat" in losses
    assert "textcat" in pipeline.update(train, exclude=["birnn_tagger"])
    assert ents(pipeline(TEXT))  # still labels


def _spacy_train(model: Path, corpus: Path, frozen: list[str]) -> Language:
    from spacy.tokens import DocBin
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train

    pipeline = add(model)
    pipeline.add_pipe("textcat")
    docs = DocBin()
    for example in examples(pipeline) * 2:
        docs.add(example.reference)
    docs.to_disk(corpus)
    config = pipeline.config
    config["paths"]["train"] = config["paths"]["dev"] = str(corpus)
    config["training"].update({"frozen_components": frozen, "max_steps": 2, "eval_frequency": 1})
    trained = init_nlp(config)  # Language.from_config, then initialize: as `spacy train` does
    train(trained, None, stdout=io.StringIO())
    return trained


def test_spacy_train_trains_beside_the_component_in_frozen_components(trained_tiny_model: Path, tmp_path: Path) -> None:
    trained = _spacy_train(trained_tiny_model, tmp_path / "train.spacy", ["birnn_tagger"])
    doc = trained(TEXT)
    assert ents(doc) and set(doc.cats) == {"A", "B"}


def test_spacy_train_with_the_component_not_frozen_says_how_to_freeze_it(trained_tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(TaggerError, match="frozen_components"):
        _spacy_train(trained_tiny_model, tmp_path / "train.spacy", [])


# 4. The label map


def test_the_label_map_renames_entities_spans_and_labels(trained_tiny_model: Path) -> None:
    plain = add(trained_tiny_model)
    mapped = add(trained_tiny_model, label_map={"PER": "PERSON", "LOC": "GPE"})
    grouped = add(trained_tiny_model, label_map={"ORG": "COMPANY"}, attrs={"ner": "spans.found"})
    rename = {"PER": "PERSON", "LOC": "GPE"}
    seen = set()
    for text in TEXTS:
        expected = ents(plain(text))
        assert ents(mapped(text)) == [(start, end, rename.get(label, label)) for start, end, label in expected]
        doc = grouped(text)
        assert [(s.start, s.end, s.label_) for s in doc.spans["found"]] == [
            (start, end, "COMPANY" if label == "ORG" else label) for start, end, label in expected]
        seen.update(label for _, _, label in expected)
    assert {"PER", "LOC"} & seen, "the tiny model should find a PER or LOC"
    labels = mapped.get_pipe("birnn_tagger").labels
    assert {"PERSON", "GPE", "ORG"} <= set(labels) and not {"PER", "LOC"} & set(labels)
    assert "NOUN" in labels  # token labels are not renamed


def test_the_label_map_survives_to_disk_and_to_bytes(trained_tiny_model: Path, tmp_path: Path) -> None:
    mapped = add(trained_tiny_model, label_map={"PER": "PERSON", "LOC": "GPE"})
    expected = [ents(doc) for doc in mapped.pipe(TEXTS)]
    mapped.to_disk(tmp_path / "pipeline")
    assert [ents(doc) for doc in spacy.load(tmp_path / "pipeline").pipe(TEXTS)] == expected
    fresh = spacy.blank("en")
    fresh.add_pipe("birnn_tagger", config={"label_map": {"PER": "PERSON", "LOC": "GPE"}})
    fresh.from_bytes(mapped.to_bytes())
    assert [ents(doc) for doc in fresh.pipe(TEXTS)] == expected


@pytest.mark.parametrize(
    ("label_map", "match"),
    [
        ({"PERSON": "PER"}, r"no entity label 'PERSON'.*PER"),  # not a label of this model: its labels named
        ({"NOUN": "N"}, r"no entity label 'NOUN'"),  # a token label is not renamed
        ({"PER": ""}, r"label_map\.PER: '' is not a label"),
        ({"PER": "A PERSON"}, r"label_map\.PER: 'A PERSON' is not a label"),
    ],
)
def test_a_bad_label_map_is_a_config_error_at_add_pipe(trained_tiny_model: Path, label_map: dict[str, str], match: str) -> None:
    pipeline = spacy.blank("en")
    with pytest.raises(ConfigError, match=match):
        pipeline.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model), "label_map": label_map})
    assert "birnn_tagger" not in pipeline.pipe_names


def test_a_bad_label_map_without_a_model_fails_at_add_pipe_or_when_the_model_comes(trained_tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="whitespace"):
        spacy.blank("en").add_pipe("birnn_tagger", config={"label_map": {"PER": "PER SON"}})
    component = spacy.blank("en").add_pipe("birnn_tagger", config={"label_map": {"NOPE": "X"}})  # the model's labels are not known yet
    with pytest.raises(ConfigError, match="'NOPE'"):
        component.from_bytes(add(trained_tiny_model).get_pipe("birnn_tagger").to_bytes())
    assert component.labels == ()


def test_parse_label_map_reads_the_command_line_spelling() -> None:
    from tagger.data.doc_targets import parse_label_map

    assert parse_label_map("PER=PERSON,LOC=GPE") == {"PER": "PERSON", "LOC": "GPE"}
    assert parse_label_map(" PER = PERSON , ") == {"PER": "PERSON"}
    assert parse_label_map("") == {}
    for bad, match in [("PER", "LABEL=NEW_NAME"), ("PER=", "LABEL=NEW_NAME"), ("=X", "LABEL=NEW_NAME"),
                       ("PER=A,PER=B", "renamed twice"), ("PER=A B", "whitespace")]:
        with pytest.raises(ConfigError, match=match) as raised:
            parse_label_map(bad)
        assert raised.value.key.startswith("--label-map")


def test_html_entities_take_the_mapped_names_and_displacy_colours(trained_tiny_model: Path) -> None:
    from tagger.data.html import ENTITY_COLOURS, HtmlFormatter
    from tagger.model.predict import Tagger

    tagger = Tagger.load(trained_tiny_model)
    predictions = tagger.predict(TEXTS)
    found = {span.label for p in predictions for span in p.spans["ner"]}
    assert "LOC" in found, "the tiny model should find a LOC"
    plain = "".join(HtmlFormatter(tagger.info)(p, i) for i, p in enumerate(predictions, 1))
    page = "".join(HtmlFormatter(tagger.info, {"LOC": "GPE", "PER": "PERSON"})(p, i) for i, p in enumerate(predictions, 1))
    assert ENTITY_COLOURS["LOC"] in plain and ENTITY_COLOURS["GPE"] not in plain
    assert ENTITY_COLOURS["GPE"] in page and ENTITY_COLOURS["LOC"] not in page  # displaCy's colour of GPE
    assert ">GPE<" in page and ">LOC<" not in page
    assert "B-GPE" in page and "B-LOC" not in page  # the tooltips' BIO tags too
    with pytest.raises(ConfigError, match="'GPE'"):
        HtmlFormatter(tagger.info, {"GPE": "LOC"})
