"""Bad inputs against the CLI, serve.py, the Python API and the service: is each refused with a
clear error (no traceback), and is nothing already written lost?

    python bench/bad_inputs.py --work /tmp/bad-inputs

Trains a tiny model on the bundled sample corpus first (seconds). Every case is one that must be
refused; it counts as "clear" when it fails with an error message and no traceback, "traceback"
when a traceback shows, and "silent" when it is accepted. Prints a table and the totals.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
TINY = """seed = 7
[data]
train = "sample:train"
dev = "sample:dev"
[tasks.upos]
decoder = "softmax"
[tasks.ner]
decoder = "crf"
scheme = "BIOES"
[embeddings]
word_dim = 16
char_encoder = "cnn"
char_dim = 8
char_hidden = 16
[encoder]
hidden_size = 24
num_layers = 1
[training]
max_epochs = 1
threads = 1
"""

API = """
import sys
from tagger import Tagger
from tagger.errors import TaggerError
tagger = Tagger.load(sys.argv[1])
for case in sys.argv[2:]:
    try:
        if case == "batch_size=0":
            tagger.predict(["Anna smiled ."], batch_size=0)
        elif case == "device=cuda":
            Tagger.load(sys.argv[1], device="cuda")
        else:
            tagger.predict(eval(case))
        print(case, "silent", "", sep="\t")
    except TaggerError as error:
        print(case, "clear", str(error)[:110], sep="\t")
    except Exception as error:
        print(case, "traceback", type(error).__name__, sep="\t")
"""

SERVICE = """
import json, sys
from fastapi.testclient import TestClient
from tagger.service import create_app
with TestClient(create_app(sys.argv[1], token="")) as client:
    for body in sys.argv[2:]:
        response = client.post("/annotate", json=json.loads(body))
        kind = "silent" if response.status_code == 200 else "traceback" if response.status_code >= 500 else "clear"
        print(body, kind, response.status_code, response.text[:100], sep="\t")
"""


Row = tuple[str, str, str]  # case, outcome (clear, traceback, silent, hang, lost), what it said last
TAGGER = [sys.executable, "-m", "tagger"]


def run(args: list[str], cwd: Path, timeout: float = 300) -> tuple[str, str]:
    """Run a command that must be refused: its outcome (clear, traceback, silent or hang) and output."""
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        return "hang", f"no answer in {timeout:.0f} s: {(expired.stderr or b'')[-200:]!r}"
    text = done.stdout + done.stderr
    if "Traceback" in text:
        return "traceback", text
    return ("silent" if done.returncode == 0 else "clear"), text


def last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip(" ─╭╰│")] or [""]
    return lines[-1].strip(" │")[:110]


def model_directory_cases(work: Path, model: Path) -> list[Row]:
    """Edited, damaged or hostile model directories through every front end."""
    return []


def training_cases(work: Path, model: Path, config: Path) -> list[Row]:
    """Diverging training, torn checkpoints, hostile configs."""
    return []


def service_cases(work: Path, model: Path) -> list[Row]:
    """Hostile requests and a service over a bad model."""
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder (replaced)")
    work = parser.parse_args().work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    tagger = TAGGER
    config = work / "tiny.toml"
    config.write_text(TINY, encoding="utf-8")
    model = work / "model"
    subprocess.run([*tagger, "train", str(config), "-o", str(model)], cwd=work, check=True, capture_output=True)
    text = work / "in.txt"
    text.write_text("".join(f"Anna number {i} moved to Oslo.\n" for i in range(200)), encoding="utf-8")
    (work / "existing.jsonl").write_text("precious\n", encoding="utf-8")
    (work / "folder").mkdir()
    (work / "bad.toml").write_text("seed = 1\n[data\n", encoding="utf-8")
    (work / "span.conll").write_text("Anna\tPROPN\tPER\n", encoding="utf-8")
    records = work / "in.jsonl"
    records.write_text('{"text": "Anna moved to Oslo."}\n', encoding="utf-8")

    cases: list[tuple[str, list[str]]] = [(f"train --set {override}", [*tagger, "train", str(config), "-o", str(work / "m2"), "--set", override])
                                          for override in ("training.eval_batch_size=0", "training.patience=-1", "training.warmup_steps=-3",
                                                           "training.clip_norm=-1", "embeddings.char_kernel=0", "embeddings.max_word_chars=0",
                                                           "training.threads=-1", "training.learning_rate=-1", "training.betas=[1.5, 0.9]",
                                                           "training.weight_decay=-0.5", 'training.device="cuda"', 'lang="xx-nope"',
                                                           'lang="ja"', "segmenter.train=true", "segmenter.folds=1",
                                                           f'segmenter.model="{model}"', f'segmenter.model="{config}"')]
    cases += [
        ("train into a directory holding a model", [*tagger, "train", str(config), "-o", str(model)]),
        ("train a corpus name that is nowhere", [*tagger, "train", "ud-vi-nowhere", "-o", str(work / "m3")]),
        ("train a misspelt corpus name", [*tagger, "train", "uner-zh-gsdsimpp", "-o", str(work / "m3")]),
        ("train a segmenter and carry one", [*tagger, "train", str(config), "-o", str(work / "m3"), "--set", "segmenter.train=true",
                                             "--set", f'segmenter.model="{model}"']),
        ("train --resume with no checkpoint", [*tagger, "train", str(config), "-o", str(work / "fresh"), "--resume"]),
        ("train --resume with another hidden size", [*tagger, "train", str(config), "-o", str(model), "--resume", "--set", "encoder.hidden_size=32"]),
        ("train an invalid TOML file", [*tagger, "train", str(work / "bad.toml")]),
        ("annotate --batch-size 0", [*tagger, "annotate", str(model), str(text), "-o", str(work / "o1.jsonl"), "--batch-size", "0"]),
        ("annotate --workers 0", [*tagger, "annotate", str(model), str(text), "-o", str(work / "o2.jsonl"), "--workers", "0"]),
        ("annotate -o an existing file", [*tagger, "annotate", str(model), str(text), "-o", str(work / "existing.jsonl")]),
        ("annotate -o the input", [*tagger, "annotate", str(model), str(records), "-o", str(records), "--overwrite"]),
        ("annotate -o a directory", [*tagger, "annotate", str(model), str(text), "-o", str(work / "folder")]),
        ("evaluate an unknown corpus", [*tagger, "evaluate", str(model), "nosuchcorpus:test"]),
        ("evaluate a non-span tag in a span task", [*tagger, "evaluate", str(model), str(work / "span.conll")]),
        ("export-spacy into a non-empty folder", [*tagger, "export-spacy", str(model), str(work)]),
        ("annotate --tasks an unknown task", [*tagger, "annotate", str(model), str(text), "-o", str(work / "o3.jsonl"), "--tasks", "upos,pos"]),
        ("evaluate -o an existing file", [*tagger, "evaluate", str(model), "sample:test", "-o", str(work / "existing.jsonl")]),
        ("evaluate -o the corpus", [*tagger, "evaluate", str(model), str(work / "span.conll"), "-o", str(work / "span.conll"), "--overwrite"]),
        ("evaluate -o an unknown extension", [*tagger, "evaluate", str(model), "sample:test", "-o", str(work / "pred.xml")]),
        ("debug-data an invalid TOML file", [*tagger, "debug-data", str(work / "bad.toml")]),
        ("debug-data --set an unknown key", [*tagger, "debug-data", str(config), "--set", "encoder.hiden_size=3"]),
        ("benchmark --batch-sizes 0", [*tagger, "benchmark", str(model), "sample:test", "--batch-sizes", "0"]),
        ("benchmark --threads 99", [*tagger, "benchmark", str(model), "sample:test", "--threads", "99"]),
        ("benchmark a model with no test corpus", [*tagger, "benchmark", str(model)]),
        ("serve.py --port 99999", [sys.executable, str(ROOT / "serve.py"), "--model", str(model), "--port", "99999"]),
    ]
    rows: list[Row] = []
    for name, args in cases:
        kind, output = run(args, work)
        rows.append((name, kind, last_line(output)))
    # A resume with a changed input: interrupt nothing, fake the progress of a run that did 100 lines.
    subprocess.run([*tagger, "annotate", str(model), str(text), "-o", str(work / "r.jsonl")], cwd=work, check=True, capture_output=True)
    (work / "r.jsonl").rename(work / "r.jsonl.partial")
    size = (work / "r.jsonl.partial").stat().st_size
    import hashlib

    lines = text.read_bytes().splitlines(keepends=True)
    (work / "r.jsonl.partial.progress").write_text(json.dumps({"records": 100, "output_bytes": size, "errors_bytes": 0, "done": 100,
                                                               "failed": 0, "input_lines": 100,
                                                               "input_sha256": hashlib.sha256(b"".join(lines[:100])).hexdigest()}))
    text.write_text(text.read_text(encoding="utf-8").replace("number 5 ", "number 55 "), encoding="utf-8")
    kind, output = run([*tagger, "annotate", str(model), str(text), "-o", str(work / "r.jsonl"), "--resume"], work)
    rows.append(("annotate --resume after the input changed", kind, output.strip().splitlines()[-1][:110]))

    api_cases = ["None", "123", "b'bytes'", "[['a', 1]]", "{'Anna': 1}", "['\\ud800']", "[None]", "batch_size=0", "device=cuda"]
    done = subprocess.run([sys.executable, "-c", API, str(model), *api_cases], capture_output=True, text=True, cwd=work)
    for line in done.stdout.splitlines():
        case, kind, message = line.split("\t")
        rows.append((f"Tagger.predict / load: {case}", kind, message))
    bodies = ['{"texts": ["a"], "scores": "yes"}', '{"texts": ["a"], "scores": 1}', '{"texts": ["   "]}', '{"texts": [[]]}', '{"texts": [["a", ""]]}']
    done = subprocess.run([sys.executable, "-c", SERVICE, str(model), *bodies], capture_output=True, text=True, cwd=work)
    for line in done.stdout.splitlines():
        body, kind, status, text_ = line.split("\t")
        rows.append((f"POST /annotate {body}", kind, f"HTTP {status} {text_}"))

    rows += model_directory_cases(work, model)
    rows += training_cases(work, model, config)
    rows += service_cases(work, model)

    table = Table(title="bad inputs: each must be refused with a clear error")
    for column in ("case", "outcome", "last line"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console = Console(width=200, emoji=False)
    console.print(table)
    counts = {kind: sum(row[1] == kind for row in rows) for kind in ("clear", "traceback", "silent", "hang", "lost")}
    console.print(f"{len(rows)} cases: {counts['clear']} clear errors, {counts['traceback']} tracebacks, {counts['silent']} silent, "
                  f"{counts['hang']} hangs, {counts['lost']} lost data")
    kept = (work / "existing.jsonl").read_text(encoding="utf-8") == "precious\n"
    console.print(f"existing.jsonl kept: {kept}; input kept: {text.is_file()}; model kept: {(model / 'model.safetensors').is_file()}")


if __name__ == "__main__":
    main()
