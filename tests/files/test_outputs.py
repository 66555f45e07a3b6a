"""Nothing lost: one run per output (locks), no silent overwrite, resumes that check what they
continue, and models that say when their training was stopped."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import tiny_config_dict, with_run
from typer.testing import CliRunner

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.cli import app
from tagger.core.config import from_dict
from tagger.core.errors import ConfigError, TaggerError
from tagger.files.locking import OutputLocked, hold, lock_path
from tagger.model.predict import Tagger
from tagger.training import train

TEXT = "".join(f"Maria Lopez number {i} moved to Chicago.\n" for i in range(60))


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


def label(tagger: Tagger, source: Path, output: Path, **options: object) -> object:
    return annotate_file(with_run(tagger, batch_size=2), source, output, AnnotateOptions(input_format="text", output_format="jsonl", **options))


def holder(target: Path) -> subprocess.Popen[str]:
    """Another process holding ``target``'s lock until killed; returns once it holds it."""
    code = f"import sys, time\nfrom tagger.files.locking import hold\nwith hold({str(target)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    with hold(target):
        assert lock_path(target).read_text().strip() == str(os.getpid())
        with pytest.raises(OutputLocked, match=f"out.jsonl is being written by another run \\(PID {os.getpid()}"):
            with hold(target):
                pass
    assert not lock_path(target).exists()
    with hold(target):  # free again
        pass


def test_annotate_into_an_output_another_run_writes_is_refused_and_a_killed_holder_frees_it(tagger: Tagger, tmp_path: Path) -> None:
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text(TEXT, encoding="utf-8")
    process = holder(output)
    try:
        with pytest.raises(OutputLocked, match=f"PID {process.pid}"):
            label(tagger, source, output)
        assert not output.exists() and not output.with_name("out.jsonl.partial").exists()
    finally:
        process.kill()
        process.wait()
    assert lock_path(output).read_text().strip() == str(process.pid)  # the killed run's file is left behind...
    assert label(tagger, source, output).done == 60  # ...and taken over
    assert not lock_path(output).exists()


def test_annotate_refuses_to_overwrite_without_being_told(tagger: Tagger, tmp_path: Path) -> None:
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text(TEXT, encoding="utf-8")
    output.write_text("precious\n")
    with pytest.raises(TaggerError, match="out.jsonl exists; add --overwrite to replace it"):
        label(tagger, source, output)
    assert output.read_text() == "precious\n"
    assert label(tagger, source, output, overwrite=True).done == 60
    with pytest.raises(TaggerError, match="exists and is finished: there is nothing to resume"):
        label(tagger, source, output, resume=True)
    for same in (source, tmp_path / "." / "in.txt"):
        with pytest.raises(TaggerError, match="would write over the input"):
            label(tagger, source, same, overwrite=True)
    assert source.read_text(encoding="utf-8") == TEXT
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Anna smiled.", encoding="utf-8")
    for inputs in (docs, f"{docs}/*.txt"):  # an output among a folder's or a glob's files would be read as input next time
        with pytest.raises(TaggerError, match="would write over the input"):
            annotate_file(tagger, inputs, docs / ("a.txt" if isinstance(inputs, str) else "out.jsonl"), AnnotateOptions(input_format="text", output_format="jsonl", overwrite=True))
    (tmp_path / "folder").mkdir()
    with pytest.raises(TaggerError, match="folder is a directory"):
        label(tagger, source, tmp_path / "folder")
    assert list((tmp_path / "folder").iterdir()) == []


def test_the_cli_names_the_flag(trained_tiny_model: Path, tmp_path: Path) -> None:
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text(TEXT, encoding="utf-8")
    output.write_text("precious\n")
    refused = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(source), "-o", str(output)])
    assert refused.exit_code == 1 and "--overwrite" in refused.output and output.read_text() == "precious\n"
    done = CliRunner().invoke(app, ["annotate", str(trained_tiny_model), str(source), "-o", str(output), "--overwrite"])
    assert done.exit_code == 0, done.output
    assert len(output.read_text().splitlines()) == 60


class Interrupt(Exception):
    pass


def interrupted(tagger: Tagger, source: Path, output: Path, after: int = 2, **options: object) -> None:
    """A run stopped after ``after`` chunks, leaving its partial output and progress file."""
    calls = []

    def stop(records: int, words: int) -> None:
        calls.append(records)
        if len(calls) == after:
            raise Interrupt

    with pytest.raises(Interrupt):
        annotate_file(with_run(tagger, batch_size=1), source, output, AnnotateOptions(input_format="text", output_format="jsonl", **options), on_progress=stop)


def test_a_resume_with_other_input_or_options_is_refused_naming_the_difference(tagger: Tagger, tmp_path: Path) -> None:
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text(TEXT, encoding="utf-8")
    interrupted(tagger, source, output)
    partial = output.with_name("out.jsonl.partial").read_bytes()
    source.write_text(TEXT.replace("number 3 ", "number 33 "), encoding="utf-8")
    with pytest.raises(TaggerError, match="lines 1-32 of .*in.txt, which the interrupted run labelled, have changed"):
        annotate_file(tagger, source, output, AnnotateOptions(input_format="text", output_format="jsonl", resume=True))
    source.write_text(TEXT, encoding="utf-8")
    with pytest.raises(TaggerError, match='options.output_format: "jsonl" -> "conllu"'):
        annotate_file(tagger, source, output, AnnotateOptions(input_format="text", output_format="conllu", resume=True))
    with pytest.raises(TaggerError, match='options.text_field: "text" -> "body"'):
        annotate_file(tagger, source, output, AnnotateOptions(input_format="text", output_format="jsonl", resume=True, text_field="body"))
    assert output.with_name("out.jsonl.partial").read_bytes() == partial  # refusals change nothing
    # A fix after the part already done (as after --strict) is fine.
    source.write_text(TEXT + "One more line.\n", encoding="utf-8")
    summary = annotate_file(tagger, source, output, AnnotateOptions(input_format="text", output_format="jsonl", resume=True))
    assert summary.resumed == 32 and summary.done == 61 == len(output.read_text().splitlines())


def test_a_resume_with_another_model_is_refused(tagger: Tagger, trained_tiny_model: Path, tmp_path: Path) -> None:
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text(TEXT, encoding="utf-8")
    interrupted(tagger, source, output)
    other = tmp_path / "other"
    raw = tiny_config_dict(limit=20)
    raw["training"]["max_epochs"] = 1
    train(from_dict(raw), other)
    with pytest.raises(TaggerError, match="model_weights: "):
        annotate_file(Tagger.load(other), source, output, AnnotateOptions(input_format="text", output_format="jsonl", resume=True))


def one_epoch(**changes: object) -> dict:
    raw = tiny_config_dict(limit=20)
    raw["training"]["max_epochs"] = 2
    for key, value in changes.items():
        section, name = key.split(".")
        raw[section][name] = value
    return raw


def test_train_refuses_another_models_directory_and_a_resume_with_nothing_to_resume(tmp_path: Path) -> None:
    model = tmp_path / "model"
    with pytest.raises(TaggerError, match="nothing to resume in .*model: it has no checkpoint/trainer.pt"):
        train(from_dict(one_epoch()), model, resume=True)
    train(from_dict(one_epoch()), model)
    before = (model / "model.safetensors").read_bytes()
    with pytest.raises(TaggerError, match="model already holds a model .*--resume continues its training, --overwrite replaces it"):
        train(from_dict(one_epoch(**{"training.learning_rate": 0.02})), model)
    assert (model / "model.safetensors").read_bytes() == before
    train(from_dict(one_epoch(**{"training.learning_rate": 0.02})), model, overwrite=True)
    assert (model / "model.safetensors").read_bytes() != before
    (tmp_path / "empty").mkdir()
    train(from_dict(one_epoch()), tmp_path / "empty")  # an empty directory is no model


def test_a_resume_refuses_another_network_and_warns_of_other_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = tmp_path / "model"
    train(from_dict(one_epoch(**{"training.max_epochs": 1})), model)
    with pytest.raises(ConfigError, match="encoder.hidden_size: cannot resume .* encoder.hidden_size 24 -> 32"):
        train(from_dict(one_epoch(**{"encoder.hidden_size": 32})), model, resume=True)
    with pytest.raises(ConfigError, match="data.max_train_sentences: cannot resume"):
        train(from_dict({**one_epoch(), "data": {**one_epoch()["data"], "max_train_sentences": 30}}), model, resume=True)
    with pytest.raises(ConfigError, match="training.learning_rate: cannot resume .* optimiser: training.learning_rate 0.01 -> 0.02"):
        train(from_dict(one_epoch(**{"training.learning_rate": 0.02})), model, resume=True)  # the restored optimiser would keep 0.01
    with caplog.at_level(logging.INFO):
        result = train(from_dict(one_epoch(**{"training.batch_size": 4})), model, resume=True)
    assert [r["epoch"] for r in result.epochs] == [1, 2]
    assert "changed settings: training.batch_size 8 -> 4; training.max_epochs 1 -> 2" in caplog.text


def test_a_stopped_training_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from tagger.training import TrainingMonitor

    class StopAfterFirst(TrainingMonitor):
        def end_epoch(self, record: dict) -> None:
            raise KeyboardInterrupt

    model = tmp_path / "model"
    with pytest.raises(KeyboardInterrupt):
        train(from_dict(one_epoch()), model, monitor=StopAfterFirst())
    with caplog.at_level(logging.WARNING):
        tagger = Tagger.load(model)
    assert not tagger.finished and "its training did not finish" in caplog.text and "--resume" in caplog.text
    info = CliRunner().invoke(app, ["info", str(model)])
    assert info.exit_code == 0 and "UNFINISHED" in info.output
    train(from_dict(one_epoch()), model, resume=True)
    assert Tagger.load(model).finished
    assert "UNFINISHED" not in CliRunner().invoke(app, ["info", str(model)]).output


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, not yet reaped
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent(trained_tiny_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text(TEXT * 400, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, "-m", "tagger", "annotate", str(trained_tiny_model), str(source), "-o",
                               str(tmp_path / "out.jsonl"), "--workers", "2", "--batch-size", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(workers := children(parent.pid)) < 2 and time.monotonic() < deadline and parent.poll() is None:
            time.sleep(0.2)
        assert len(workers) >= 2, "the workers never started"
        time.sleep(1.0)  # past their start-up
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [w for w in workers if alive(w)]
    for survivor in survivors:  # no orphans left behind by a failing test
        os.kill(survivor, signal.SIGKILL)
    assert not survivors, f"workers {survivors} outlived their parent"


CONLLU = """# newdoc id = weblog-1
# newpar id = weblog-1-p0001
# sent_id = s1
# text = Maria's cat, in Paris.
1-2	Maria's	_	_	_	_	_	_	_	_
1	Maria	Maria	PROPN	NNP	Number=Sing	3	nmod:poss	3:nmod:poss	_
2	's	's	PART	POS	_	1	case	1:case	_
3	cat	cat	NOUN	NN	Number=Sing	0	root	0:root	SpaceAfter=No
4	,	,	PUNCT	,	_	3	punct	3:punct	_
4.1	is	be	AUX	VBZ	_	_	_	3:cop	_
5	in	in	ADP	IN	_	6	case	6:case	_
6	Paris	Paris	PROPN	NNP	Number=Sing	3	nmod	3:nmod:in	NER=B-LOC|SpaceAfter=No
7	.	.	PUNCT	.	_	3	punct	3:punct	_

# sent_id = s2
1	Hi	hi	INTJ	UH	_	0	root	0:root	_

"""


def test_conllu_in_conllu_out_changes_only_what_the_model_predicts(tagger: Tagger, tmp_path: Path) -> None:
    source, output = tmp_path / "in.conllu", tmp_path / "out.conllu"
    source.write_text(CONLLU, encoding="utf-8")
    annotate_file(tagger, source, output, AnnotateOptions(input_format="conllu", output_format="conllu"))
    before, after = CONLLU.splitlines(), output.read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before)
    predicted = [p.tags for p in tagger.predict([["Maria", "'s", "cat", ",", "in", "Paris", "."], ["Hi"]])]
    words = iter([(s, i) for s, tags in enumerate(predicted) for i in range(len(tags["upos"]))])
    for old, new in zip(before, after):
        if not old.split("\t")[0].isdigit():
            assert new == old  # comments, newdoc/newpar, multiword tokens, empty nodes, blank lines
            continue
        s, i = next(words)
        old_fields, new_fields = old.split("\t"), new.split("\t")
        assert new_fields[3] == predicted[s]["upos"][i]
        assert new_fields[:3] + new_fields[4:9] == old_fields[:3] + old_fields[4:9]
        misc = [item for item in new_fields[9].split("|") if not item.startswith("NER=")]
        assert misc == [item for item in old_fields[9].split("|") if not item.startswith("NER=")] or misc == [] and old_fields[9] == "_"
        assert f"NER={predicted[s]['ner'][i]}" in new_fields[9].split("|")
    assert after[11].endswith("NER=" + predicted[0]["ner"][5] + "|SpaceAfter=No")  # replaced in place, order kept


def test_column_files_keep_their_lines_and_get_a_column_per_task(tagger: Tagger, tmp_path: Path) -> None:
    source, output = tmp_path / "in.conll", tmp_path / "out.conll"
    source.write_text("-DOCSTART- -X- -X- O\n\nAnna NNP B-NP B-PER\nworks VBZ B-VP O\n\n\n# sent_id = 2\nOslo\tNNP\tB-NP\tB-LOC\n",
                      encoding="utf-8")
    annotate_file(tagger, source, output, AnnotateOptions(input_format="conll", output_format="conll"))
    tags = [p.tags for p in tagger.predict([["Anna", "works"], ["Oslo"]])]
    assert output.read_text(encoding="utf-8") == (
        "-DOCSTART- -X- -X- O\n\n"
        f"Anna NNP B-NP B-PER {tags[0]['upos'][0]} {tags[0]['ner'][0]}\nworks VBZ B-VP O {tags[0]['upos'][1]} {tags[0]['ner'][1]}\n\n"
        f"\n# sent_id = 2\nOslo\tNNP\tB-NP\tB-LOC\t{tags[1]['upos'][0]}\t{tags[1]['ner'][0]}\n\n")


def test_annotating_ewt_dev_with_a_upos_model_changes_column_4_alone(shared_corpora: Path, tmp_path: Path) -> None:
    raw = tiny_config_dict(limit=60)
    raw["tasks"] = {"upos": {"decoder": "softmax"}}
    raw["training"]["max_epochs"] = 1
    train(from_dict(raw), tmp_path / "upos")
    source = shared_corpora / "ud-en-ewt" / "en_ewt-ud-dev.conllu"
    annotate_file(Tagger.load(tmp_path / "upos"), source, tmp_path / "dev.conllu", AnnotateOptions(input_format="conllu", output_format="conllu"))
    before = source.read_text(encoding="utf-8").splitlines()
    after = (tmp_path / "dev.conllu").read_text(encoding="utf-8").splitlines()
    assert len(after) == len(before) > 25_000
    changed = 0
    for old, new in zip(before, after):
        old_fields, new_fields = old.split("\t"), new.split("\t")
        if old_fields[0].isdigit():
            assert old_fields[:3] + old_fields[4:] == new_fields[:3] + new_fields[4:], old
            changed += old_fields[3] != new_fields[3]
        else:
            assert old == new
    assert changed > 0  # a one-epoch model gets some tags wrong: column 4 really is the model's


def test_export_spacy_refusal_names_the_flag(trained_tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["export-spacy", str(trained_tiny_model), str(tmp_path / "taken")])
    assert result.exit_code == 1 and "--overwrite" in result.output and (tmp_path / "taken" / "keep.txt").read_text() == "mine"


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs Linux and 2 cores")
def test_idle_cores_leaves_out_a_core_another_process_keeps_busy() -> None:
    from tagger.core.runtime import idle_cores

    cores = len(os.sched_getaffinity(0))
    first = min(os.sched_getaffinity(0))
    spinner = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{first}}})\nwhile True: pass"])
    try:
        time.sleep(0.5)
        busy = idle_cores(0.3)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and 1 <= busy <= cores - 1
