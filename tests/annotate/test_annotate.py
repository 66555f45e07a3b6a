"""tagger annotate on files: resume after an interruption (or a real SIGKILL) gives exactly the uninterrupted
output; every input format to every output format reads back as Tagger.predict labels it; bad records are
listed with their line numbers, and --strict stops at the first one."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import with_run

from tagger.annotate import AnnotateOptions, annotate_file
from tagger.core.errors import DataFormatError, TaggerError
from tagger.model.predict import Tagger

LINES = [f"Maria Lopez number {i} moved to Chicago." if i % 7 else "{not json" for i in range(1, 60)]


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def tagger(trained_tiny_model: Path) -> Tagger:
    return Tagger.load(trained_tiny_model)


def write_input(path: Path) -> Path:
    path.write_text("".join((json.dumps({"id": i, "text": line}) if not line.startswith("{") else line) + "\n"
                            for i, line in enumerate(LINES)), encoding="utf-8")
    return path


def run(tagger: Tagger, source: Path, output: Path, on_progress=None, model_dir=None, **options) -> object:
    return annotate_file(with_run(tagger, batch_size=1), source, output, AnnotateOptions(input_format="jsonl", output_format="jsonl", **options),
                         on_progress=on_progress, model_dir=model_dir)


def test_resume_after_an_interruption_equals_an_uninterrupted_run(tagger: Tagger, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    reference = run(tagger, source, tmp_path / "ref.jsonl")
    assert reference.done == 51 and reference.failed == 8

    calls = []

    def stop_after_two_chunks(records: int, words: int) -> None:
        calls.append(records)
        if len(calls) == 2:
            raise Interrupt

    output = tmp_path / "out.jsonl"
    with pytest.raises(Interrupt):
        run(tagger, source, output, on_progress=stop_after_two_chunks)
    partial = output.with_name("out.jsonl.partial")
    assert not output.exists() and partial.is_file()
    with partial.open("a", encoding="utf-8") as handle:
        handle.write('{"half": "a record cut off by a kill')  # what a kill mid-write leaves
    resumed = run(tagger, source, output, resume=True)
    assert resumed.resumed == 32  # two chunks of 16 records (batch_size 1 x 16)
    assert output.read_text() == (tmp_path / "ref.jsonl").read_text()
    assert (tmp_path / "out.jsonl.errors.jsonl").read_text() == (tmp_path / "ref.jsonl.errors.jsonl").read_text()
    assert not partial.exists() and not list(tmp_path.glob("*.progress"))


def test_an_interrupted_run_is_continued_or_overwritten_not_dropped(tagger: Tagger, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    output = tmp_path / "out.jsonl"
    output.with_name("out.jsonl.partial").write_text("left over\n")
    output.with_name("out.jsonl.partial.progress").write_text(json.dumps({"records": 1, "output_bytes": 10, "errors_bytes": 0,
                                                                          "done": 1, "failed": 0}))
    with pytest.raises(TaggerError, match="out.jsonl.partial holds an interrupted run's output: --resume continues it, --overwrite starts again"):
        run(tagger, source, output)
    assert output.with_name("out.jsonl.partial").read_text() == "left over\n"
    summary = run(tagger, source, output, overwrite=True)
    assert summary.resumed == 0 and "left over" not in output.read_text()
    ids = [json.loads(line)["id"] for line in output.read_text().splitlines()]
    assert ids == [i for i, line in enumerate(LINES) if not line.startswith("{")]  # input order, no gaps


def test_errors_file_only_when_there_are_errors(tagger: Tagger, tmp_path: Path) -> None:
    source = tmp_path / "clean.txt"
    source.write_text("Anna works in Oslo.\n\nTabs\there and emoji 🙂 too.\r\n", encoding="utf-8")
    summary = annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="text", output_format="jsonl"))
    assert summary.done == 2 and summary.failed == 0 and summary.errors_path is None
    assert not list(tmp_path.glob("*errors*"))
    second = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[1])
    text = second["text"]
    assert all(text[start:end] == token for token, (start, end) in zip(second["tokens"], second["offsets"]))


def test_long_documents_are_labelled_sentence_by_sentence_and_joined_back(tagger: Tagger) -> None:
    import spacy

    text = " ".join(f"Maria Lopez visited Chicago on day {i} , and the Red Cross sent help ." for i in range(20))
    prediction = tagger.predict(text)
    assert len(prediction.tokens) > 200
    assert all(text[start:end] == token for token, (start, end) in zip(prediction.tokens, prediction.offsets))
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    sentences = [[t.text for t in sent if not t.is_space] for sent in nlp(text).sents]
    assert len(sentences) == 20
    expected = tagger.predict(sentences)
    for task in tagger.tasks:
        assert prediction.tags[task] == [tag for p in expected for tag in p.tags[task]]
    assert [(s.label, text[s.start_char:s.end_char]) for s in prediction.spans["ner"]] == [
        (s.label, " ".join(p.tokens[s.start:s.end])) for p in expected for s in p.spans["ner"]
    ]
    # Pre-tokenized input has no sentence starts: pieces of 200 tokens.
    tokens = prediction.tokens
    windows = tagger.predict([tokens[:200], tokens[200:]])
    assert tagger.predict([tokens])[0].tags["upos"] == windows[0].tags["upos"] + windows[1].tags["upos"]


def test_the_spacy_component_splits_long_docs_like_the_tagger(tagger: Tagger, trained_tiny_model: Path) -> None:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("birnn_tagger", config={"model": str(trained_tiny_model)})
    text = " ".join(f"Anna flew to Oslo on day {i} ." for i in range(40))
    doc = nlp(text)
    assert len(doc) > 200 and not doc.has_annotation("SENT_START")  # the Doc is not changed
    assert [t.pos_ for t in doc] == tagger.predict(text).tags["upos"]


def test_spacy_output_reads_back_with_the_labels_of_the_jsonl_output(tagger: Tagger, tmp_path: Path) -> None:
    from tagger.data.readers import read_corpus

    source = tmp_path / "docs.txt"
    source.write_text("Maria Lopez moved to Chicago.\nThe Red Cross sent help to Denver .\n", encoding="utf-8")
    annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="text", output_format="jsonl"))
    summary = annotate_file(tagger, source, tmp_path / "out.spacy", AnnotateOptions(input_format="text", output_format="spacy"))
    assert summary.done == 2
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    back = list(read_corpus(tmp_path / "out.spacy"))
    assert [s.tokens for s in back] == [r["tokens"] for r in records]
    assert [s.tags["upos"] for s in back] == [r["tags"]["upos"] for r in records]
    assert [s.tags.get("ner", ["O"] * len(s.tokens)) for s in back] == [r["tags"]["ner"] for r in records]
    assert [s.meta["text"] for s in back] == [r["text"] for r in records]  # spaces rebuilt from the offsets


def test_a_folder_or_glob_of_text_files_is_one_document_per_file(tagger: Tagger, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "b.txt").write_text("Anna works in Oslo.\nShe likes it.\n", encoding="utf-8")
    (folder / "a.txt").write_text("Maria Lopez moved to Chicago.", encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"caf\xe9")
    for source in (folder, f"{folder}/*.txt"):
        output = tmp_path / "out.jsonl"
        summary = annotate_file(tagger, source, output, AnnotateOptions(input_format="text", output_format="jsonl", overwrite=True))
        records = [json.loads(line) for line in output.read_text().splitlines()]
        assert [Path(r["file"]).name for r in records] == ["a.txt", "b.txt"] and summary.failed == 1
        assert records[1]["text"] == "Anna works in Oslo.\nShe likes it.\n" and "She" in records[1]["tokens"]
        assert "bad.txt" in (tmp_path / "out.jsonl.errors.jsonl").read_text()


def test_a_dataset_of_raw_text(tagger: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": ["Anna works in Oslo.", "Hi there"], "id": [1, 2]}).save_to_disk(str(folder))
    summary = annotate_file(tagger, folder, tmp_path / "out.jsonl", AnnotateOptions(input_format="dataset", output_format="jsonl"))
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert summary.done == 2 and records[0]["tokens"] == ["Anna", "works", "in", "Oslo", "."]


def test_two_workers_write_what_one_writes_in_input_order(tagger: Tagger, trained_tiny_model: Path, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    one = run(tagger, source, tmp_path / "one.jsonl")
    two = run(tagger, source, tmp_path / "two.jsonl", workers=2, model_dir=trained_tiny_model)
    assert (one.done, one.failed) == (two.done, two.failed) == (51, 8)
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    assert (tmp_path / "two.jsonl.errors.jsonl").read_text() == (tmp_path / "one.jsonl.errors.jsonl").read_text()


def test_a_strict_stop_with_workers_keeps_the_chunks_read_before_it(tagger: Tagger, trained_tiny_model: Path, tmp_path: Path) -> None:
    from tagger.annotate.resumable import resumed_records

    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": f"Anna number {i} moved to Oslo."}) for i in range(60)]
    lines[40] = "{not json"  # in the third chunk of 16: the first two are still in the workers when it is read
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="in.jsonl:41"):
        run(tagger, source, tmp_path / "out.jsonl", workers=2, strict=True)
    assert resumed_records(tmp_path / "out.jsonl") == 32


def test_workers_label_with_the_model_the_run_loaded_not_the_directory_as_it_is_now(trained_tiny_model: Path, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl")
    copy = tmp_path / "model"
    shutil.copytree(trained_tiny_model, copy)
    loaded = Tagger.load(copy)
    shutil.rmtree(copy)  # replaced, moved or deleted after the run loaded it: workers that read it again would fail
    shutil.copytree(trained_tiny_model, copy)
    (copy / "meta.json").write_text("{}", encoding="utf-8")
    one = run(loaded, source, tmp_path / "one.jsonl")
    two = run(loaded, source, tmp_path / "two.jsonl", workers=2, model_dir=copy)
    assert (one.done, one.failed) == (two.done, two.failed)
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()


# --------------------------------------------------------------------------- a real kill, then --resume

ROOT = Path(__file__).resolve().parents[2]
KILL_BATCH = 4  # a chunk is batch_size * 16 = 64 records
KILL_CHUNK = KILL_BATCH * 16
WORDS = ("Maria Lopez moved to Chicago with Anna from Oslo and the Red Cross sent help to Denver last year on Monday "
         "because a storm hit the harbor , so Jenny called her brother in Paris 🙂 and \tthen wrote to Acme Corp .").split(" ")


def kill_test_input(path: Path, records: int) -> tuple[Path, int]:
    """JSONL records of varied length (text and tokens, extra fields), with blank lines and every kind
    of bad line spread through the file; returns the path and the number of records (bad ones included)."""
    rng = random.Random(11)
    bad = [b'{"text": "no closing quote}', b'{"id": "no text or tokens"}', b'{"text": "caf\xe9 is not UTF-8"}', b'["an", "array"]']
    lines, count = [], 0
    while count < records:
        if rng.random() < 0.03:
            lines.append(b"")  # not a record
            continue
        count += 1
        if count % 37 == 0:
            lines.append(bad[(count // 37) % len(bad)])
            continue
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 40))]
        record = {"id": count, "tokens": [w.strip() for w in words if w.strip()]} if count % 5 == 0 else {"id": count, "text": " ".join(words)}
        lines.append(json.dumps(record, ensure_ascii=count % 2 == 0).encode("utf-8"))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, count


def annotate_command(model: Path, source: Path, output: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "tagger", "annotate", str(model), str(source), "-o", str(output), "--batch-size", str(KILL_BATCH), *options]


def summary_row(stderr: str) -> dict[str, int]:
    """The done/failed/resumed counts of the summary table the command prints."""
    lines = stderr.splitlines()
    header = next(i for i, line in enumerate(lines) if "┃" in line and "resumed" in line)
    names = [cell.strip() for cell in lines[header].split("┃")[1:-1]]
    row = next(line for line in lines[header + 1:] if "│" in line)
    cells = [cell.strip().replace(",", "") for cell in row.split("│")[1:-1]]
    return {name: int(cell) for name, cell in zip(names, cells) if name in ("done", "failed", "resumed")}


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_output(trained_tiny_model: Path, tmp_path: Path) -> None:
    source, total = kill_test_input(tmp_path / "in.jsonl", records=20 * KILL_CHUNK)
    # One torch thread: the same in every run, and no OpenMP spinning when other processes load the machine.
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    # The uninterrupted reference runs beside the run to kill (which it slows down: a wider window for the kill).
    reference = subprocess.Popen(annotate_command(trained_tiny_model, source, tmp_path / "ref.jsonl"), cwd=ROOT, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    output = tmp_path / "out.jsonl"
    progress = tmp_path / "out.jsonl.partial.progress"
    process = subprocess.Popen(annotate_command(trained_tiny_model, source, output), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, records = time.monotonic() + 60, 0
    try:
        while records < 2 * KILL_CHUNK:  # at least two chunks done, so that resume has something to skip
            if process.poll() is not None:
                pytest.fail(f"annotate exited (code {process.returncode}) before it could be killed after {records} of "
                            f"{total} records: make the input bigger")
            if time.monotonic() > deadline:
                pytest.fail(f"no progress after 60 s ({records} records done)")
            if progress.is_file():
                records = json.loads(progress.read_text(encoding="utf-8"))["records"]
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()  # only when the loop failed; after the SIGKILL above this is a no-op
        process.wait(timeout=30)
        _, reference_log = reference.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, f"annotate was not killed but exited with {process.returncode}"
    state = json.loads(progress.read_text(encoding="utf-8"))
    assert 2 * KILL_CHUNK <= state["records"] < total, f"killed after {state['records']} of {total} records: not mid-run"
    assert not output.exists() and (tmp_path / "out.jsonl.partial").stat().st_size >= state["output_bytes"]
    assert reference.returncode == 0, reference_log
    expected = summary_row(reference_log)
    assert expected == {"done": total - total // 37, "failed": total // 37, "resumed": 0}

    resumed = subprocess.run(annotate_command(trained_tiny_model, source, output, "--resume"), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert summary_row(resumed.stderr) == {**expected, "resumed": state["records"]}
    assert output.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert (tmp_path / "out.jsonl.errors.jsonl").read_bytes() == (tmp_path / "ref.jsonl.errors.jsonl").read_bytes()
    assert not list(tmp_path.glob("out.*partial*"))


# --------------------------------------------------------------------------- every input format x every output format

TEXTS = ["Maria Lopez moved to Chicago last year.", "Anna works in Oslo 🙂 with\tthe Red Cross.", "Hi"]
TOKENS = [["Maria", "Lopez", "moved", "to", "Chicago", "."], ["The", "Red", "Cross", "sent", "help", "to", "Denver", "."], ["Hi"]]
CONLLU = """# sent_id = first
# text = I don't live in Oslo.
1\tI\t_\tPRON\tPRP\t_\t_\t_\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\t_\tAUX\tVBP\t_\t_\t_\t_\t_
3\tn't\t_\tPART\tRB\t_\t_\t_\t_\t_
4\tlive\t_\tVERB\tVB\t_\t_\t_\t_\t_
5\tin\t_\tADP\tIN\t_\t_\t_\t_\t_
6\tOslo\t_\tPROPN\tNNP\t_\t_\t_\t_\tSpaceAfter=No
7\t.\t_\tPUNCT\t.\t_\t_\t_\t_\t_

# sent_id = second
1\tAnna\t_\tPROPN\tNNP\t_\t_\t_\t_\t_
2\tsmiled\t_\tVERB\tVBD\t_\t_\t_\t_\t_

"""


def make_input(kind: str, directory: Path) -> tuple[Path | str, str, list]:
    """An input of ``kind``: its path, its format for annotate_file, and what to give Tagger.predict for it."""
    if kind == "text":
        path = directory / "in.txt"
        path.write_bytes(("\r\n".join(TEXTS[:2]) + "\r\n\r\n" + TEXTS[2] + "\n").encode("utf-8"))
        return path, "text", TEXTS
    if kind in ("jsonl-text", "jsonl-tokens"):
        field, values = ("text", TEXTS) if kind == "jsonl-text" else ("tokens", TOKENS)
        path = directory / "in.jsonl"
        path.write_text("".join(json.dumps({"id": i, field: v, "extra": {"n": [i]}}) + "\n" for i, v in enumerate(values)), encoding="utf-8")
        return path, "jsonl", values
    if kind == "conllu":
        path = directory / "in.conllu"
        path.write_text(CONLLU, encoding="utf-8")
        return path, "conllu", [["I", "do", "n't", "live", "in", "Oslo", "."], ["Anna", "smiled"]]
    if kind == "conll":
        path = directory / "in.conll"
        blocks = ["\n".join(f"{token}\tX\tO" for token in tokens) for tokens in TOKENS]
        path.write_text("-DOCSTART-\tX\tO\n\n" + "\n\n".join(blocks) + "\n", encoding="utf-8")
        return path, "conll", TOKENS
    if kind == "spacy":
        import spacy
        from spacy.tokens import Doc, DocBin

        vocab = spacy.blank("en").vocab
        first = Doc(vocab, words=TOKENS[0] + TOKENS[1], sent_starts=[i in (0, len(TOKENS[0])) for i in range(len(TOKENS[0]) + len(TOKENS[1]))])
        second = Doc(vocab, words=["Hi", "\n", "Anna"], spaces=[False, False, False])  # a whitespace token is left out
        path = directory / "in.spacy"
        DocBin(docs=[first, second]).to_disk(path)
        return path, "spacy", [TOKENS[0], TOKENS[1], ["Hi", "Anna"]]
    if kind == "dataset":
        import datasets

        path = directory / "ds"
        datasets.Dataset.from_dict({"tokens": TOKENS, "id": [1, 2, 3]}).save_to_disk(str(path))
        return path, "dataset", TOKENS
    if kind in ("folder", "glob"):
        folder = directory / "docs"
        folder.mkdir()
        for name, text in zip(("b.txt", "a.txt", "c.txt"), TEXTS):
            (folder / name).write_bytes(text.replace(" last", "\r\nlast").encode("utf-8"))
        (folder / ".hidden").write_text("not read", encoding="utf-8")
        texts = [TEXTS[1], TEXTS[0].replace(" last", "\r\nlast"), TEXTS[2]]  # in file name order
        return (folder if kind == "folder" else f"{folder}/*.txt"), "text", texts
    raise AssertionError(kind)


def read_back(path: Path, fmt: str, tasks: list[str]) -> list[tuple[list[str], dict[str, list[str]]]]:
    """Tokens and labels of an annotate output, read with the project's readers (NER from CoNLL-U's MISC column)."""
    from tagger.data.readers import read_corpus

    if fmt == "conll":  # the tasks' columns come last: after the input's own, when it was a column file
        first = next(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("-DOCSTART-"))
        width = len(first.split("\t"))
        sentences = list(read_corpus(path, "conll", columns={task: width - len(tasks) + i for i, task in enumerate(tasks)}))
    else:
        sentences = list(read_corpus(path, fmt))
    if fmt == "conllu":
        blocks = [block for block in path.read_text(encoding="utf-8").split("\n\n") if block.strip()]
        for sentence, block in zip(sentences, blocks):
            misc = [line.split("\t")[9] for line in block.split("\n") if line.split("\t")[0].isdigit()]
            sentence.tags["ner"] = [dict(f.split("=", 1) for f in field.split("|"))["NER"] for field in misc]
    if fmt == "spacy":  # a Doc with no entity has no NER annotation to read back
        for sentence in sentences:
            sentence.tags.setdefault("ner", ["O"] * len(sentence.tokens))
    return [(s.tokens, {t: tags for t, tags in s.tags.items() if t in tasks}) for s in sentences]  # a CoNLL-U input's XPOS stays


INPUT_KINDS = ["text", "jsonl-text", "jsonl-tokens", "conllu", "conll", "spacy", "dataset", "folder", "glob"]


@pytest.mark.parametrize("output_format", ["jsonl", "conllu", "conll", "spacy"])
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_every_input_format_to_every_output_format_reads_back_as_predicted(
    tagger: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, output_format: str
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    source, input_format, inputs = make_input(kind, tmp_path)
    output = tmp_path / f"out.{output_format}"
    summary = annotate_file(tagger, source, output, AnnotateOptions(input_format=input_format, output_format=output_format))
    expected = tagger.predict(inputs)
    assert (summary.done, summary.failed) == (len(expected), 0)
    assert read_back(output, output_format, tagger.tasks) == [(p.tokens, {t: p.tags[t] for t in tagger.tasks}) for p in expected]
    assert not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob("*errors*"))
    if output_format == "jsonl":
        records = [json.loads(line) for line in output.read_text(encoding="utf-8").split("\n")[:-1]]
        if kind.startswith("jsonl"):  # the input record's other fields are carried through
            assert [(r["id"], r["extra"]) for r in records] == [(i, {"n": [i]}) for i in range(len(inputs))]
        if kind in ("folder", "glob"):
            assert [Path(r["file"]).name for r in records] == ["a.txt", "b.txt", "c.txt"]
        if isinstance(inputs[0], str):  # raw text comes back whole, with the spans of its entities
            assert [r["text"] for r in records] == inputs
            assert [r["spans"] for r in records] == [{t: [s.to_dict() for s in ss] for t, ss in p.spans.items()} for p in expected]


def test_conllu_to_conllu_keeps_the_words_and_sentence_ids(tagger: Tagger, tmp_path: Path) -> None:
    from tagger.data.readers import read_corpus

    source, _, _ = make_input("conllu", tmp_path)
    annotate_file(tagger, source, tmp_path / "out.conllu", AnnotateOptions(input_format="conllu", output_format="conllu"))
    original, back = list(read_corpus(source)), list(read_corpus(tmp_path / "out.conllu"))
    assert [s.tokens for s in back] == [s.tokens for s in original]
    assert [s.meta["sent_id"] for s in back] == ["first", "second"]
    assert back[0].meta["text"] == "I don't live in Oslo."


def test_conllu_text_comment_stays_on_one_line_whatever_line_breaks_the_text_has(tagger: Tagger, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "Anna works.\r\nMaria moved.\rBob ran.\u2028Then\x85more\x0cpages.\n"}) + "\n", encoding="utf-8")
    annotate_file(tagger, source, tmp_path / "out.conllu", AnnotateOptions(input_format="jsonl", output_format="conllu"))
    lines = (tmp_path / "out.conllu").read_text(encoding="utf-8").splitlines()  # universal newlines, as many CoNLL-U tools read
    assert [line for line in lines if line.startswith("#")] == ["# sent_id = 1", "# text = Anna works. Maria moved. Bob ran. Then more pages."]
    assert all(len(line.split("\t")) == 10 for line in lines if line and not line.startswith("#"))


@pytest.mark.parametrize("kind", ["text", "jsonl", "folder"])
def test_offsets_point_at_the_tokens_in_text_with_emoji_tabs_and_crlf(tagger: Tagger, tmp_path: Path, kind: str) -> None:
    texts = ["Family 👩‍👩‍👧 and 🇳🇴 flags\tin Oslo 🙂.", "Tabs\t\tbetween 🙂🙂 words,\ttoo", "Ünïcödé café ‘quoted’ … naïve 😀!"]
    if kind == "text":
        source = tmp_path / "in.txt"
        source.write_bytes("\r\n".join(texts).encode("utf-8") + b"\r\n")
    elif kind == "jsonl":
        source = tmp_path / "in.jsonl"
        source.write_bytes(b"\r\n".join(json.dumps({"text": t}, ensure_ascii=i % 2 == 0).encode("utf-8") for i, t in enumerate(texts)) + b"\r\n")
    else:
        source = tmp_path / "docs"
        source.mkdir()
        texts = [texts[0] + "\r\n" + texts[1] + "\r\n", texts[2]]  # one document per file, CRLF inside
        for i, text in enumerate(texts):
            (source / f"{i}.txt").write_bytes(text.encode("utf-8"))
    summary = annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="jsonl" if kind == "jsonl" else "text", output_format="jsonl"))
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().decode("utf-8").split("\n")[:-1]]
    assert summary.done == len(records) == len(texts) and [r["text"] for r in records] == texts
    for record in records:
        text = record["text"]
        assert len(record["offsets"]) == len(record["tokens"]) > 3
        assert all(text[start:end] == token for token, (start, end) in zip(record["tokens"], record["offsets"]))
        assert "🙂" in record["tokens"] or "😀" in record["tokens"]
        for span in record["spans"]["ner"]:
            assert text[span["start_char"]:span["end_char"]] == text[record["offsets"][span["start"]][0]:record["offsets"][span["end"] - 1][1]]


# --------------------------------------------------------------------------- bad records: the errors file, --strict

BAD_RECORDS = {  # a bad JSONL line -> what its reason says
    "invalid JSON": (b'{"text": broken', "invalid JSON"),
    "missing field": (b'{"id": 0, "txt": "a typo in the field name"}', "neither a 'tokens' list nor a 'text' string"),
    "invalid UTF-8": (b'{"text": "caf\xe9"}', "not valid UTF-8 (byte 13)"),
    "JSON array": (b'["Anna", "works"]', "expected a JSON object"),
    "JSON string": (b'"Anna works"', "expected a JSON object"),
    "tokens not strings": (b'{"tokens": ["Anna", 3]}', "'tokens' must be a list of non-empty strings"),
    "tags of the wrong length": (b'{"tokens": ["Anna"], "tags": {"upos": ["X", "Y"]}}', "tags for 'upos' must be a list of 1 strings"),
    "blank text": (b'{"id": 9, "text": " \\t "}', "nothing to label"),
    "no tokens": (b'{"tokens": []}', "nothing to label"),
}


def good(i: int) -> bytes:
    return json.dumps({"id": i, "text": f"Anna number {i} works in Oslo."}).encode("utf-8")


def test_every_kind_of_bad_record_is_listed_with_its_physical_line_number(tagger: Tagger, tmp_path: Path) -> None:
    # A byte-order mark, CRLF line ends and blank lines: line numbers still count the file's lines.
    lines, expected_errors, ids = [b"\xef\xbb\xbf" + good(0), b""], [], [0]
    for i, (line, reason) in enumerate(BAD_RECORDS.values(), start=1):
        lines += [line, good(i), b"   "]
        expected_errors.append({"line": len(lines) - 2, "reason": reason})
        ids.append(i)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\r\n".join(lines) + b"\r\n")
    errors = tmp_path / "logs" / "bad.jsonl"  # in a folder that does not exist yet
    summary = annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="jsonl", output_format="jsonl", errors_path=errors))
    assert (summary.done, summary.failed, summary.errors_path) == (len(ids), len(BAD_RECORDS), errors)
    listed = [json.loads(line) for line in errors.read_text(encoding="utf-8").splitlines()]
    assert [e["line"] for e in listed] == [e["line"] for e in expected_errors]
    assert all(x["reason"] in e["reason"] for e, x in zip(listed, expected_errors)), listed
    assert [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()] == ids
    assert not (tmp_path / "out.jsonl.errors.jsonl").exists()

    # A .spacy output has no errors file: the bad records are counted and skipped.
    summary = annotate_file(tagger, source, tmp_path / "out.spacy", AnnotateOptions(input_format="jsonl", output_format="spacy"))
    assert (summary.done, summary.failed, summary.errors_path) == (len(ids), len(BAD_RECORDS), None)
    assert not list(tmp_path.glob("*errors*"))


@pytest.mark.parametrize("output_format", ["jsonl", "spacy"])
@pytest.mark.parametrize("kind", list(BAD_RECORDS))
def test_strict_stops_at_the_first_bad_record_naming_file_and_line(tagger: Tagger, tmp_path: Path, kind: str, output_format: str) -> None:
    line, reason = BAD_RECORDS[kind]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([good(1), b"", good(2), line, good(3), BAD_RECORDS["invalid JSON"][0]]) + b"\n")
    output = tmp_path / f"out.{output_format}"
    with pytest.raises(DataFormatError) as raised:
        annotate_file(tagger, source, output, AnnotateOptions(input_format="jsonl", output_format=output_format, strict=True))
    assert raised.value.line == 4 and str(raised.value).startswith(f"{source}:4: ") and reason in str(raised.value)
    assert not output.exists() and not (tmp_path / "out.jsonl.errors.jsonl").exists()


@pytest.mark.parametrize("kind", ["text", "folder"])
def test_undecodable_text_is_a_bad_record_and_strict_names_it(tagger: Tagger, tmp_path: Path, kind: str) -> None:
    if kind == "text":
        source = tmp_path / "in.txt"
        source.write_bytes(b"Anna works in Oslo.\n\ncaf\xe9 au lait\nMaria moved to Chicago.\n")
        line, reason, where = 3, "not valid UTF-8 (byte 3): b'\\xe9 au'", f"{source}:3: "
    else:
        source = tmp_path / "docs"
        source.mkdir()
        (source / "a.txt").write_bytes(b"Anna works in Oslo.\n")
        (source / "b.txt").write_bytes(b"caf\xe9 au lait\n")
        (source / "c.txt").write_bytes(b"Maria moved to Chicago.\n")
        line, reason = None, f"{source / 'b.txt'}: not valid UTF-8 (byte 3): b'\\xe9 au'"  # a file is one record: named by the file
        where = reason
    summary = annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format="text", output_format="jsonl"))
    assert (summary.done, summary.failed) == (2, 1)
    assert [json.loads(e) for e in (tmp_path / "out.jsonl.errors.jsonl").read_text(encoding="utf-8").splitlines()] == [{"line": line, "reason": reason}]
    with pytest.raises(DataFormatError, match="not valid UTF-8") as raised:
        annotate_file(tagger, source, tmp_path / "strict.jsonl", AnnotateOptions(input_format="text", output_format="jsonl", strict=True))
    assert str(raised.value).startswith(where)


def test_after_strict_stops_fixing_the_input_and_resuming_gives_the_full_output(tagger: Tagger, tmp_path: Path) -> None:
    records = [good(i) for i in range(50)]
    source, fixed = tmp_path / "in.jsonl", tmp_path / "fixed.jsonl"
    fixed.write_bytes(b"\n".join(records) + b"\n")
    annotate_file(with_run(tagger, batch_size=1), fixed, tmp_path / "ref.jsonl", AnnotateOptions(input_format="jsonl", output_format="jsonl"))
    source.write_bytes(b"\n".join(records[:40] + [b'{"text": broken'] + records[41:]) + b"\n")
    output = tmp_path / "out.jsonl"
    with pytest.raises(DataFormatError, match=":41: invalid JSON"):
        annotate_file(with_run(tagger, batch_size=1), source, output, AnnotateOptions(input_format="jsonl", output_format="jsonl", strict=True))
    assert not output.exists() and (tmp_path / "out.jsonl.partial").is_file()  # kept for resume

    source.write_bytes(fixed.read_bytes())
    summary = annotate_file(with_run(tagger, batch_size=1), source, output, AnnotateOptions(input_format="jsonl", output_format="jsonl", strict=True, resume=True))
    assert (summary.resumed, summary.done, summary.failed) == (32, 50, 0)  # two chunks of 16 were done before the stop
    assert output.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


@pytest.mark.parametrize("fmt, content, line", [
    ("conllu", "1\tAnna\t_\tPROPN\t_\t_\t_\t_\t_\t_\n\n1\tBroken\tPROPN\n", 3),
    ("conll", "Anna\tPROPN\tO\n\nworks\tVERB\tO\n\tVERB\tO\n", 4),
])
def test_formats_read_whole_stop_at_a_malformed_line_even_without_strict(tagger: Tagger, tmp_path: Path, fmt: str, content: str,
                                                                          line: int) -> None:
    source = tmp_path / f"in.{fmt}"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError) as raised:
        annotate_file(tagger, source, tmp_path / "out.jsonl", AnnotateOptions(input_format=fmt, output_format="jsonl"))
    assert str(raised.value).startswith(f"{source}:{line}: ")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_folder_is_text_files_only_and_its_empty_files_are_bad_records(tagger: Tagger, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Anna works in Oslo.", encoding="utf-8")
    (tmp_path / "in" / "b.txt").write_text(" \n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="read as text files"):
        annotate_file(tagger, tmp_path / "in", tmp_path / "out.jsonl", AnnotateOptions(input_format="jsonl", output_format="jsonl"))
    summary = annotate_file(tagger, tmp_path / "in", tmp_path / "out.jsonl", AnnotateOptions(input_format="text", output_format="jsonl"))
    assert (summary.done, summary.failed) == (1, 1)
    assert "b.txt: empty document" in (tmp_path / "out.jsonl.errors.jsonl").read_text(encoding="utf-8")


def test_resume_after_a_stop_between_the_final_renames(tagger: Tagger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = write_input(tmp_path / "in.jsonl")
    run(tagger, source, tmp_path / "ref.jsonl")
    real_replace = os.replace

    def stop_before_the_output_rename(src: object, dst: object) -> None:
        if str(dst).endswith("out.jsonl"):
            raise Interrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", stop_before_the_output_rename)
    with pytest.raises(Interrupt):
        run(tagger, source, tmp_path / "out.jsonl")
    monkeypatch.setattr(os, "replace", real_replace)
    assert (tmp_path / "out.jsonl.errors.jsonl").is_file() and not (tmp_path / "out.jsonl").exists()

    run(tagger, source, tmp_path / "out.jsonl", resume=True)
    assert (tmp_path / "out.jsonl").read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert (tmp_path / "out.jsonl.errors.jsonl").read_bytes() == (tmp_path / "ref.jsonl.errors.jsonl").read_bytes()


def test_the_line_prefix_of_a_resume_reads_long_lines_in_bounded_pieces(tmp_path: Path) -> None:
    import hashlib

    from tagger.annotate.resumable import LinePrefix

    for data in (b"a\nb\nc", b"a\nb\nc\n", b"x" * (1024 * 1024) + b"\ny\n", b"x" * (3 * 1024 * 1024 + 5) + b"\nlast"):
        path = tmp_path / "in.txt"
        path.write_bytes(data)
        lines = data.splitlines(keepends=True)
        for n in range(1, len(lines) + 2):
            prefix = LinePrefix(path)
            try:
                assert prefix.through(n) == hashlib.sha256(b"".join(lines[:n])).hexdigest() and prefix.lines == min(n, len(lines))
            finally:
                prefix.close()
