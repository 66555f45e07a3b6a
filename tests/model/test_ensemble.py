"""Ensembles: several models of one config labelling together, through every front end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import spacy
from conftest import tiny_config_dict
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.config import from_dict
from tagger.core.errors import ModelFormatError, TaggerError
from tagger.model.predict import Tagger
from tagger.model.serialize import save_ensemble
from tagger.nn.ensemble import EnsembleModel

SENTENCES = [["Maria", "visited", "Paris", "with", "John", "Smith", "."], ["The", "bank", "in", "London", "closed", "."]]


@pytest.fixture(scope="module")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another seed of the session's tiny model: the same vocabulary, other weights."""
    from tagger.training import train

    raw = tiny_config_dict(limit=0)
    raw["seed"], raw["training"]["max_epochs"] = 8, 6
    directory = tmp_path_factory.mktemp("second-seed")
    train(from_dict(raw), directory)
    return directory


def test_an_ensemble_of_one_model_twice_labels_as_the_model(trained_tiny_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained_tiny_model, copy)
    single = Tagger.load(trained_tiny_model).predict(SENTENCES, scores=True)
    for crf in ("emissions", "marginals"):
        save_ensemble(tmp_path / crf, [trained_tiny_model, copy], crf)
        ensemble = Tagger.load(tmp_path / crf)
        assert isinstance(ensemble.model, EnsembleModel) and ensemble.info.name == crf
        found = ensemble.predict(SENTENCES, scores=True)
        for one, both in zip(single, found):
            assert both.tags["upos"] == one.tags["upos"]
            assert both.scores["upos"] == pytest.approx(one.scores["upos"], abs=1e-5)
            if crf == "emissions":  # one CRF of the same emissions and transitions: the same Viterbi path
                assert both.tags["ner"] == one.tags["ner"]
                assert both.scores["ner"] == pytest.approx(one.scores["ner"], abs=1e-5)


def valid_bio(tags: list[str]) -> bool:
    """Every I- tag continues a span of its type."""
    return all(not tag.startswith("I-") or (before != "O" and before[2:] == tag[2:]) for before, tag in zip(["O", *tags], tags))


def test_members_combine_and_every_path_is_one_the_scheme_allows(trained_tiny_model: Path, second_model: Path, tmp_path: Path) -> None:
    members = [Tagger.load(trained_tiny_model), Tagger.load(second_model)]
    sentence = [" ".join(s) for s in SENTENCES]
    for crf in ("emissions", "marginals"):
        save_ensemble(tmp_path / crf, [trained_tiny_model, second_model], crf)
        ensemble = Tagger.load(tmp_path / crf)
        for found in ensemble.predict(sentence * 3, scores=True):
            assert valid_bio(found.tags["ner"]), found.tags["ner"]
            assert all(0.0 <= p <= 1.0 + 1e-6 for task in ("upos", "ner") for p in found.scores[task])
        # softmax tasks: the mean of the members' distributions
        batch = ensemble.batch_encoder.encode([ensemble.tokenizer(sentence[0])], with_targets=False)
        mean = ensemble.model.heads["upos"].probabilities(ensemble.model(batch)["upos"].scores, batch.mask)
        each = [m.model.heads["upos"].probabilities(m.model(batch)["upos"].scores, batch.mask) for m in members]
        assert mean.detach().allclose((each[0] + each[1]).detach() / 2, atol=1e-5)


def test_a_list_of_directories_and_the_files_round_trip(trained_tiny_model: Path, second_model: Path) -> None:
    ensemble = Tagger.load([trained_tiny_model, second_model], threads=1)
    files = ensemble.files()
    assert "ensemble.json" in files and "member-1/model.safetensors" in files
    again = Tagger.from_files(files, "in memory")
    assert [p.tags for p in again.predict(SENTENCES)] == [p.tags for p in ensemble.predict(SENTENCES)]
    assert again.meta["ensemble"] == {"members": ["member-0", "member-1"], "crf": "emissions"}


def test_the_cli_service_and_spacy_component_load_an_ensemble(trained_tiny_model: Path, second_model: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["ensemble", str(trained_tiny_model), str(second_model), "-o", str(tmp_path / "ens")])
    assert result.exit_code == 0, result.output
    expected = [p.tags for p in Tagger.load(tmp_path / "ens").predict(SENTENCES)]
    assert json.loads((tmp_path / "ens" / "ensemble.json").read_text())["members"] == ["member-0", "member-1"]
    again = runner.invoke(app, ["ensemble", str(trained_tiny_model), str(second_model), "-o", str(tmp_path / "ens")])
    assert again.exit_code == 1 and "not empty" in again.output
    (tmp_path / "in.txt").write_text("\n".join(" ".join(s) for s in SENTENCES) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["annotate", str(tmp_path / "ens"), str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["tags"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == expected

    from tagger.service.app import create_app

    with TestClient(create_app(str(tmp_path / "ens"))) as client:
        answer = client.post("/annotate", json={"texts": [" ".join(s) for s in SENTENCES]})
        assert answer.status_code == 200, answer.text
        assert [doc["tags"] for doc in answer.json()["results"]] == expected

    nlp = spacy.blank("en")
    nlp.add_pipe("birnn_tagger", config={"model": str(tmp_path / "ens")})
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(tmp_path / "ens")  # the pipeline carries every member
    loaded = spacy.load(tmp_path / "pipeline")
    assert [t.pos_ for t in loaded(" ".join(SENTENCES[0]))] == expected[0]["upos"]


def test_members_that_cannot_label_together_are_refused_naming_them(trained_tiny_model: Path, tmp_path: Path) -> None:
    from tagger.training import train

    raw = tiny_config_dict(limit=30)
    raw["training"]["max_epochs"] = 1
    train(from_dict(raw), tmp_path / "other")  # fewer sentences: another vocabulary
    with pytest.raises(ModelFormatError, match=r"member-1 cannot label with .*member-0 in an ensemble: its vocabulary or labels differ"):
        Tagger.load([trained_tiny_model, tmp_path / "other"])
    with pytest.raises(TaggerError, match="one of the ensemble's members"):
        save_ensemble(trained_tiny_model, [trained_tiny_model, tmp_path / "other"])


@pytest.mark.parametrize(("listed", "match"), [
    ({"format_version": 1, "members": ["member-0"]}, "two or more"),
    ({"format_version": 1, "members": ["member-0", "../elsewhere"]}, "not a folder name"),
    ({"format_version": 1, "members": ["member-0", "member-0"]}, "named twice"),
    ({"format_version": 1, "members": ["member-0", "member-1"], "crf": "max"}, "crf: 'max' is not one of"),
    ({"format_version": 7, "members": ["member-0", "member-1"]}, "format version"),
])
def test_a_bad_ensemble_json_is_refused(trained_tiny_model: Path, second_model: Path, tmp_path: Path, listed: dict, match: str) -> None:
    save_ensemble(tmp_path / "ens", [trained_tiny_model, second_model])
    (tmp_path / "ens" / "ensemble.json").write_text(json.dumps(listed))
    with pytest.raises(ModelFormatError, match=match):
        Tagger.load(tmp_path / "ens")


def test_an_ensemble_is_neither_trained_into_nor_a_start_and_needs_two_models(trained_tiny_model: Path, second_model: Path,
                                                                               tmp_path: Path) -> None:
    from tagger.core.errors import ConfigError
    from tagger.training import train

    save_ensemble(tmp_path / "ens", [trained_tiny_model, second_model])
    raw = tiny_config_dict(limit=20)
    raw["training"]["max_epochs"] = 1
    with pytest.raises(TaggerError, match="is an ensemble's directory"):
        train(from_dict(raw), tmp_path / "ens", overwrite=True)
    with pytest.raises(ConfigError, match=r"init_from: .* is an ensemble: name one of its models"):
        train(from_dict({**raw, "init_from": str(tmp_path / "ens")}), tmp_path / "started")
    with pytest.raises(TaggerError, match="an ensemble is two models or more, not 1"):
        Tagger.load([trained_tiny_model])
