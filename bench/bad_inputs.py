"""Bad inputs against the CLI, serve.py, the Python API and the service: is each refused with a
clear error (no traceback), and is nothing already written lost?

    python bench/bad_inputs.py --work /tmp/bad-inputs

Trains a tiny model on the bundled sample corpus first (seconds). Most cases must be refused: "clear"
when the command fails with an error message and no traceback. Others must be handled and finish (a
bad record among good ones, two runs at once): "ok". Failures are "traceback", "silent" (accepted,
or finished wrongly), "hang" (no answer in time) and "lost" (data written before was changed or
lost). The full-disk cases mount a small tmpfs (root only; "skipped" otherwise). Prints a table and
the totals.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
from tagger.core.errors import TaggerError
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


Row = tuple[str, str, str]  # case, outcome (one of OUTCOMES), what it said last
OUTCOMES = ("clear", "ok", "traceback", "silent", "hang", "lost", "skipped")  # ok: a case that must succeed, and did
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
    """Edited, damaged or hostile model directories through every front end: info, annotate, Tagger.load,
    serve.py and tagger serve (a service that starts over a bad model is a "hang"). Each is a copy of the
    model's files, edited as someone else could, with meta.json's digests recomputed, as a hostile maker
    writes them."""
    import hashlib
    import os
    import socket
    from collections.abc import Callable
    from typing import Any

    def edit(name: str, change: Callable[[Any], object]) -> Callable[[Path], None]:
        def apply(directory: Path) -> None:
            data = json.loads((directory / name).read_text(encoding="utf-8"))
            change(data)
            (directory / name).write_text(json.dumps(data), encoding="utf-8")
        return apply

    def replace(name: str, make: Callable[[Path], object]) -> Callable[[Path], None]:
        def apply(directory: Path) -> None:
            (directory / name).unlink()
            make(directory / name)
        return apply

    def cut(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:-1000])

    variants: dict[str, Callable[[Path], None]] = {
        "hidden_size 20000": edit("config.json", lambda c: c["encoder"].update(hidden_size=20000)),
        "num_layers 3000": edit("config.json", lambda c: c["encoder"].update(num_layers=3000)),
        "hidden_size 4000 (in range)": edit("config.json", lambda c: c["encoder"].update(hidden_size=4000)),
        "hidden_size -1": edit("config.json", lambda c: c["encoder"].update(hidden_size=-1)),
        "hidden_size missing": edit("config.json", lambda c: c["encoder"].pop("hidden_size")),
        "config.json nested 100000 deep": replace("config.json", lambda p: p.write_text("[" * 100_000)),
        "meta.json finished 'yes', parameters 'many'": edit("meta.json", lambda m: m.update(parameters="many", training={"finished": "yes"})),
        'meta.json sha256 ["a"]': edit("meta.json", lambda m: m.update(sha256=["a"])),
        "duplicate label": edit("vocab.json", lambda v: v["labels"]["upos"].__setitem__(1, v["labels"]["upos"][0])),
        "null label": edit("vocab.json", lambda v: v["labels"]["upos"].__setitem__(1, None)),
        "span label not a tag": edit("vocab.json", lambda v: v["labels"]["ner"].__setitem__(0, "PERSON")),
        "model.safetensors -> /dev/zero": replace("model.safetensors", lambda p: os.symlink("/dev/zero", p)),
        "meta.json a FIFO": replace("meta.json", os.mkfifo),
        "config.json a directory": replace("config.json", Path.mkdir),
        "model.safetensors truncated": lambda d: cut(d / "model.safetensors"),
    }
    base = work / "model-dirs"
    base.mkdir()
    text = base / "tiny.txt"
    text.write_text("Anna moved to Oslo.\n", encoding="utf-8")
    api = ("import sys\nfrom tagger import Tagger\nfrom tagger.core.errors import TaggerError\ntry:\n"
           "    print(Tagger.load(sys.argv[1]).predict('Anna moved to Oslo.').tags)\n"
           "except TaggerError as error:\n    sys.exit(f'error: {error}')\n")
    with socket.socket() as probe:  # a free port: a service that starts must not fail on a port in use
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    fronts: dict[str, Callable[[Path], list[str]]] = {
        "info": lambda d: [*TAGGER, "info", str(d)],
        "annotate": lambda d: [*TAGGER, "annotate", str(d), text.name, "-o", str(d.with_suffix(".jsonl"))],
        "Tagger.load": lambda d: [sys.executable, "-c", api, str(d)],
        "serve.py": lambda d: [sys.executable, str(ROOT / "serve.py"), "--model", str(d), "--port", port],
        "tagger serve": lambda d: [*TAGGER, "serve", str(d), "--port", port],
    }
    rows: list[Row] = []
    for number, (name, apply) in enumerate(variants.items()):
        directory = base / f"m{number:02d}"
        directory.mkdir()
        for file in ("config.json", "vocab.json", "model.safetensors", "meta.json"):
            shutil.copyfile(model / file, directory / file)
        apply(directory)
        meta_path = directory / "meta.json"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        if isinstance(meta.get("sha256"), dict):  # recomputed for regular files only: never read /dev/zero
            meta["sha256"] = {file: hashlib.sha256((directory / file).read_bytes()).hexdigest() if (directory / file).is_file() else digest
                              for file, digest in meta["sha256"].items()}
            meta_path.write_text(json.dumps(meta), encoding="utf-8")
        for front, command in fronts.items():  # from base, so that errors name m00/config.json, not the whole path
            kind, output = run(command(Path(directory.name)), base, timeout=20 if "serve" in front else 60)
            rows.append((f"model {name}: {front}", kind, last_line(output)))
    return rows


def training_cases(work: Path, model: Path, config: Path) -> list[Row]:
    """Diverging training, torn checkpoints, hostile configs, a disk that fills up while training.

    A run that exits 0 or leaves non-finite weights as its model is "silent"; a resume that lost the
    checkpoint before, or trains another model than an uninterrupted run, is "lost"."""
    import numpy as np
    from safetensors.numpy import load_file

    base = work / "training"
    base.mkdir()
    text = config.read_text(encoding="utf-8")
    three = base / "three.toml"
    three.write_text(text.replace("max_epochs = 1", "max_epochs = 3"), encoding="utf-8")
    (base / "nan.toml").write_text(text.replace("threads = 1", "threads = 1\nlearning_rate = nan"), encoding="utf-8")
    (base / "bom.toml").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (base / "utf16.toml").write_bytes(text.encode("utf-16"))
    pretraining = ["--set", "pretrain.max_steps=9", "--set", "pretrain.checkpoint_every=3", "--set", "pretrain.shuffle_buffer=32",
                   "--set", "training.batch_size=8"]

    def nan_saved(directory: Path) -> bool:
        weights = directory / "model.safetensors"
        return weights.is_file() and not all(np.isfinite(t).all() for t in load_file(str(weights)).values())

    def said_line(output: str) -> str:  # click's boxed usage errors end in a border line
        return next((line.strip(" │") for line in output.splitlines() if "Invalid value" in line), last_line(output))

    def epochs(directory: Path) -> list[tuple[int, float]]:
        metrics = directory / "metrics.jsonl"
        lines = metrics.read_text(encoding="utf-8").splitlines() if metrics.is_file() else []
        return [(r["epoch"], round(r["train_loss"], 5)) for r in map(json.loads, lines)]

    rows: list[Row] = []
    refused = [  # case, arguments after TAGGER, the output directory it must not fill with a NaN model
        ("train --set training.learning_rate=inf", ["train", config, "--set", "training.learning_rate=inf"]),
        ("train --set tasks.ner.weight=inf", ["train", config, "--set", "tasks.ner.weight=inf"]),
        ("train a config with learning_rate = nan", ["train", base / "nan.toml"]),
        ("train --set training.learning_rate=1e30 (diverges)", ["train", config, "--set", "training.learning_rate=1e30"]),
        ("train --set tasks.ner.weight=1e300 (diverges)", ["train", config, "--set", "tasks.ner.weight=1e300"]),
        ("pretrain --set training.learning_rate=1e30 (diverges)", ["pretrain", config, *pretraining, "--set", "training.learning_rate=1e30"]),
        ("train a UTF-16 config", ["train", base / "utf16.toml"]),
        ("pretrain a UTF-16 config", ["pretrain", base / "utf16.toml"]),
        ("debug-data a UTF-16 config", ["debug-data", base / "utf16.toml"]),
        ("train /dev/zero as the config", ["train", "/dev/zero"]),
        ("pretrain /dev/zero as the config", ["pretrain", "/dev/zero"]),
        ("debug-data /dev/zero as the config", ["debug-data", "/dev/zero"]),
        ("train --set training.threads=1000000", ["train", config, "--set", "training.threads=1000000"]),
        (f"train --set seed={2**70}", ["train", config, "--set", f"seed={2**70}"]),
        (f"debug-data --set seed={2**70}", ["debug-data", config, "--set", f"seed={2**70}"]),
        (f"train --seeds 13,{2**70}", ["train", config, "--seeds", f"13,{2**70}"]),
        ('train --set training.device="mps"', ["train", config, "--set", 'training.device="mps"']),
        ('pretrain --set training.device="mps"', ["pretrain", config, *pretraining, "--set", 'training.device="mps"']),
        ("train --set encoder.hidden_size=10**30", ["train", config, "--set", f"encoder.hidden_size={10**30}"]),
    ]
    for number, (name, args) in enumerate(refused):
        output = base / f"refused-{number}"
        kind, said = run([*TAGGER, *map(str, args), *(["-o", str(output)] if args[0] != "debug-data" else [])], work, timeout=120)
        rows.append((name, "silent" if nan_saved(output) else kind, said_line(said)[:110]))

    kind, said = run([*TAGGER, "train", str(base / "bom.toml"), "-o", str(base / "bom")], work)
    rows.append(("train a UTF-8 config with a BOM (must train)", "ok" if kind == "silent" and (base / "bom" / "meta.json").is_file() else kind,
                 last_line(said)))

    # A torn checkpoint: epoch 2's weights beside epoch 1's trainer.pt, as a crash between the two writes left them.
    torn = base / "torn"
    subprocess.run([*TAGGER, "train", str(three), "-o", str(torn), "--set", "training.max_epochs=1"], cwd=work, check=True, capture_output=True)
    shutil.copy(torn / "checkpoint" / "trainer.pt", base / "epoch-1.pt")
    subprocess.run([*TAGGER, "train", str(three), "-o", str(torn), "--resume", "--set", "training.max_epochs=2"], cwd=work, check=True,
                   capture_output=True)
    shutil.copy(base / "epoch-1.pt", torn / "checkpoint" / "trainer.pt")
    kind, said = run([*TAGGER, "train", str(three), "-o", str(torn), "--resume"], work)
    rows.append(("train --resume a checkpoint with epoch 1's trainer.pt beside epoch 2's weights", kind, last_line(said)))

    # A disk that fills up at epoch 2's checkpoint (pretraining: at its second save), then --resume with room.
    reference = base / "reference"
    subprocess.run([*TAGGER, "train", str(three), "-o", str(reference)], cwd=work, check=True, capture_output=True)
    for name, size, args, resumed_ok, done in [
        ("train onto a full disk, then --resume with room", "640k", ["train", str(three)],
         lambda out: epochs(out) == epochs(reference), "--resume: the losses of an uninterrupted run"),
        ("pretrain onto a full disk, then --resume with room", "1200k", ["pretrain", str(config), *pretraining],
         lambda out: json.loads((out / "meta.json").read_text(encoding="utf-8"))["pretraining"]["steps"] == 9, "--resume: to step 9"),
    ]:
        disk = base / f"disk-{args[0]}"
        with tiny_disk(disk, size) as mounted:
            if not mounted:
                rows.append((name, "skipped", "mounting a tmpfs needs root"))
                continue
            out = disk / "model"
            kind, said = run([*TAGGER, *args, "-o", str(out)], work)
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
            resumed, resumed_said = run([*TAGGER, *args, "-o", str(out), "--resume"], work)
            whole = resumed == "silent" and resumed_ok(out)
            note = done if whole else f"--resume: {last_line(resumed_said)}"
            rows.append((name, kind if whole or kind != "clear" else "lost", f"[{note}] {last_line(said)}"[:200]))
    return rows


def service_cases(work: Path, model: Path) -> list[Row]:
    """Hostile requests to a running serve.py (real sockets: slow headers and bodies, bodies where none is
    taken, empty or repeated task lists), an open host without a token, and serve.py / tagger serve over a
    bad model directory: each must exit with a clear error within 20 s; a service that starts is "silent"."""
    import hashlib
    import socket
    import time
    from typing import IO

    import httpx

    base = work / "service"
    base.mkdir()

    def free_port() -> int:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]

    def start(command: list[str], port: int, wait: float) -> tuple[str, str, subprocess.Popen | None]:
        """Start a service: "up" (still running, answering /health), or its outcome once it exited, or "hang"."""
        log = (base / f"serve-{port}.log").open("w+", encoding="utf-8")
        process = subprocess.Popen(command, cwd=base, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return "up", said(log), process
            except httpx.HTTPError:
                time.sleep(0.2)
        if process.poll() is None:
            stop(process)
            return "hang", f"no exit and no /health in {wait:.0f} s: {last_line(said(log))}", None
        output = said(log)
        return ("traceback" if "Traceback" in output else "silent" if process.returncode == 0 else "clear"), output, None

    def said(log: IO[str]) -> str:
        log.flush()
        log.seek(0)
        return log.read()

    def stop(process: subprocess.Popen) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def exchange(port: int, data: bytes, wait: float) -> tuple[str, str]:
        """Send ``data`` on a new connection: the outcome (from the answer, and whether the server closed
        the connection within ``wait`` s) and what it said."""
        answer, closed = b"", False
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
            connection.sendall(data)
            try:
                while chunk := connection.recv(65536):
                    answer += chunk
                closed = True
            except (TimeoutError, ConnectionError) as error:
                closed = not isinstance(error, TimeoutError)
        status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else ""
        body = answer.decode("utf-8", "replace").split("\r\n\r\n", 1)[-1]
        said_ = f"HTTP {status} {body[:90]}" if status else "no answer"
        if not closed:
            return "hang", f"still open after {wait:.0f} s; {said_}"
        outcome = "silent" if status.startswith("2") else "traceback" if status.startswith("5") or not status else "clear"
        return outcome, f"closed; {said_}"

    rows: list[Row] = []
    # A running service (timeouts of 3 s, so that the slow cases take seconds, not the default 10 and 30).
    port = free_port()
    state, output, server = start([sys.executable, str(ROOT / "serve.py"), "--model", str(model), "--port", str(port),
                                   "--header-timeout", "3", "--body-timeout", "3"], port, 60)
    if server is None:
        return [("serve.py over the good model", "traceback", last_line(output))]
    try:
        post = b"POST /annotate HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        for name, body in (("tasks []", b'{"texts": ["Anna moved to Oslo."], "tasks": []}'),
                           ("tasks named twice", b'{"texts": ["Anna moved to Oslo."], "tasks": ["upos", "upos"]}')):
            rows.append((f"POST /annotate {name}", *exchange(port, post + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
                                                                 % (len(body), body), 10)))
        rows.append(("POST /annotate, body stalled after 11 of 100 bytes (--body-timeout 3)",
                     *exchange(port, post + b'Content-Length: 100\r\n\r\n{"texts": [', 10)))
        rows.append(("GET /health with a 10 MB body (headers only sent)",
                     *exchange(port, b"GET /health HTTP/1.1\r\nHost: bench\r\nContent-Length: 10485760\r\n\r\n", 10)))
        rows.append(("POST /health, chunked body (headers only sent)",
                     *exchange(port, b"POST /health HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n\r\n", 10)))
        rows.append(("request headers never finished (--header-timeout 3)", *exchange(port, post, 10)))
    finally:
        stop(server)
    # Open to the network without a token: it must say so (it does start: that is allowed, with a warning).
    port = free_port()
    state, output, server = start([sys.executable, str(ROOT / "serve.py"), "--model", str(model), "--host", "0.0.0.0", "--port", str(port)],
                                  port, 60)
    if server is not None:
        stop(server)
    warned = [line for line in output.splitlines() if line.startswith("warning:")]
    rows.append(("serve.py --host 0.0.0.0 without a token", "clear" if warned else "silent" if state == "up" else state,
                 (warned or [last_line(output)])[0][:110]))
    # A service over a bad model directory must not start. Copies of the model, edited, their digests recomputed.
    variants = {"num_layers 3000": ("config.json", lambda c: c["encoder"].update(num_layers=3000)),
                "labels that are numbers": ("vocab.json", lambda v: v["labels"].update(upos=list(range(len(v["labels"]["upos"])))))}
    for name, (file, change) in variants.items():
        directory = base / name.replace(" ", "-")
        shutil.copytree(model, directory, ignore=shutil.ignore_patterns("checkpoint", "*.png", "metrics.jsonl"))
        data = json.loads((directory / file).read_text(encoding="utf-8"))
        change(data)
        (directory / file).write_text(json.dumps(data), encoding="utf-8")
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        meta["sha256"] = {part: hashlib.sha256((directory / part).read_bytes()).hexdigest() for part in meta.get("sha256", {})}
        (directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        for front, command in (("serve.py", [sys.executable, str(ROOT / "serve.py"), "--model", directory.name]),
                               ("tagger serve", [*TAGGER, "serve", directory.name])):
            port = free_port()
            state, output, server = start([*command, "--port", str(port)], port, 20)
            if server is not None:  # it started: what does it answer?
                answer = httpx.post(f"http://127.0.0.1:{port}/annotate", json={"texts": ["Anna moved to Oslo."]}, timeout=30)
                stop(server)
                state, output = "silent", f"started; POST /annotate: HTTP {answer.status_code} {answer.text[:80]}"
            rows.append((f"{front} over a model with {name}", state, last_line(output)))
    return rows


def kept(path: Path, content: bytes, outcome: str) -> str:
    """``outcome``, or "lost" when ``path`` no longer holds ``content``."""
    return outcome if path.is_file() and path.read_bytes() == content else "lost"


def output_cases(work: Path, model: Path) -> list[Row]:
    """Side files are outputs: never the input, a model's file or another output; never replaced unasked."""
    base = work / "outputs"
    base.mkdir()
    source = base / "in.jsonl"
    source.write_text('{"text": "Anna moved to Oslo."}\n{not json\n', encoding="utf-8")
    precious = base / "notes.txt"
    precious.write_bytes(b"precious\n")
    report = base / "report"
    report.mkdir()
    (report / "mine.md").write_bytes(b"mine\n")
    meta = (model / "meta.json").read_bytes()
    rows: list[Row] = []
    for name, args, guarded, content in [
        ("annotate --errors an existing file", ["annotate", model, source, "-o", base / "a.jsonl", "--errors", precious], precious, b"precious\n"),
        ("annotate --errors MODEL/meta.json --overwrite", ["annotate", model, source, "-o", base / "b.jsonl", "--errors", model / "meta.json",
                                                           "--overwrite"], model / "meta.json", meta),
        ("annotate --errors X -o X", ["annotate", model, source, "-o", base / "c.jsonl", "--errors", base / "c.jsonl"], source, source.read_bytes()),
        ("annotate --errors the input --overwrite", ["annotate", model, source, "-o", base / "d.jsonl", "--errors", source, "--overwrite"],
         source, source.read_bytes()),
        ("evaluate --report MODEL/report", ["evaluate", model, "sample:test", "--report", model / "report"], model / "meta.json", meta),
        ("evaluate --report a folder holding files", ["evaluate", model, "sample:test", "--report", report], report / "mine.md", b"mine\n"),
        ("benchmark -o MODEL/speed.json", ["benchmark", model, "sample:test", "--passes", "1", "-o", model / "speed.json"], model / "meta.json", meta),
        ("export-spacy MODEL MODEL --overwrite", ["export-spacy", model, model, "--overwrite"], model / "meta.json", meta),
        ("export-spacy MODEL into its parent --overwrite", ["export-spacy", model, model.parent, "--overwrite"], model / "meta.json", meta),
        ("annotate --errors OUTPUT.partial", ["annotate", model, source, "-o", base / "e.jsonl", "--errors", base / "e.jsonl.partial"],
         source, source.read_bytes()),
        ("evaluate --report a folder of other files --overwrite", ["evaluate", model, "sample:test", "--report", report, "--overwrite"],
         report / "mine.md", b"mine\n"),
        ("export-spacy MODEL a folder of other files --overwrite", ["export-spacy", model, report, "--overwrite"], report / "mine.md", b"mine\n"),
    ]:
        kind, output = run([*TAGGER, *map(str, args)], work)
        rows.append((name, kind if kind != "clear" else kept(guarded, content, kind), last_line(output)))
    # -o r.jsonl and -o r.html at once: each has its own errors file, neither run fails
    runs = [subprocess.Popen([*TAGGER, "annotate", str(model), str(source), "-o", str(base / name)], cwd=work,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for name in ("r.jsonl", "r.html")]
    outputs = [process.communicate(timeout=300) for process in runs]
    both = all(process.returncode == 0 for process in runs) and all((base / f"r.{ext}.errors.jsonl").is_file() for ext in ("jsonl", "html"))
    rows.append(("annotate -o r.jsonl and -o r.html at once", "ok" if both else "traceback" if "Traceback" in str(outputs) else "lost",
                 "both finished, each with its own errors file" if both else last_line(outputs[1][1])))
    return rows


BAD_RECORDS = {
    "a lone surrogate escape": '{"text": "\\ud83d alone"}',
    "5,000-deep nesting": '{"text": "a", "x": ' + "[" * 5000 + "]" * 5000 + "}",
    "an integer of 5,000 digits": '{"text": "a", "x": ' + "9" * 5000 + "}",
    "NaN": '{"text": "a", "x": NaN}',
    "1e999": '{"text": "a", "x": 1e999}',
    "a token with a tab": '{"tokens": ["a\\tb", "c"]}',
    "a token with a line break": '{"tokens": ["a\\u2028b"]}',
    "a whitespace token": '{"tokens": [" ", "c"]}',
    "2,000,000 characters of text": '{"text": "' + "word " * 400_000 + '"}',
}


PEAK = """import resource, subprocess, sys
done = subprocess.run(sys.argv[1:])
print("peak", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(done.returncode)
"""  # runs a command; prints its peak resident memory (KiB) last


def record_cases(work: Path, model: Path) -> list[Row]:
    """One bad record among good ones: listed in the errors file with its line, the run goes on (also with
    two workers); a 50 MB line is skipped unread, in bounded memory."""
    base = work / "records"
    base.mkdir()
    good = '{"text": "Anna moved to Oslo."}'
    rows: list[Row] = []
    cases = dict(BAD_RECORDS)
    cases["a 50 MB line"] = '{"text": "' + "x" * (50 * 1024 * 1024) + '"}'
    for number, (name, line) in enumerate(cases.items()):
        source = base / f"in{number}.jsonl"
        source.write_text("\n".join([good, line, good]) + "\n", encoding="utf-8")
        for workers in ("1", "2"):
            output = base / f"out{number}-{workers}.jsonl"
            args = [sys.executable, "-c", PEAK, *TAGGER, "annotate", str(model), str(source), "-o", str(output), "--workers", workers]
            kind, said = run(args, work)
            peak = int(said.rsplit("peak ", 1)[1].split()[0]) // 1024 if "peak " in said else 0
            errors = output.with_name(output.name + ".errors.jsonl")
            listed = errors.is_file() and [json.loads(e)["line"] for e in errors.read_text(encoding="utf-8").splitlines()] == [2]
            written = output.is_file() and len(output.read_text(encoding="utf-8").split("\n")) == 3
            if kind == "silent":  # it must finish: "silent" here means it did, with the record refused or not
                kind = "ok" if listed and written else "silent"
            memory = f"; peak {peak} MB" if workers == "1" else ""
            last = json.loads(errors.read_text(encoding="utf-8").splitlines()[0])["reason"][:80] if listed else last_line(said)
            rows.append((f"annotate a JSONL record: {name} (workers {workers})", kind, last + memory))
    # a label with a stray space in a training corpus: an error naming file and line, in training and debug-data
    corpus = base / "train.tsv"
    corpus.write_text("Anna\tPROPN\nruns\tVERB \n\n", encoding="utf-8")
    config = base / "stray.toml"
    config.write_text(f'seed = 1\n[data]\ntrain = {{ path = "{corpus}", format = "conll", columns = {{ upos = 1 }} }}\n'
                      f'dev = {{ path = "{corpus}", format = "conll", columns = {{ upos = 1 }} }}\n[tasks.upos]\ndecoder = "softmax"\n'
                      "[training]\nmax_epochs = 1\nthreads = 1\n", encoding="utf-8")
    for command in (["train", str(config), "-o", str(base / "stray-model")], ["debug-data", str(config)]):
        kind, said = run([*TAGGER, *command], work)
        rows.append((f"{command[0]} a corpus with a label 'VERB ' (stray space)", kind, last_line(said)))
    return rows


@contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[bool]:
    """``folder`` as a tmpfs of ``size`` (root only); yields False when it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def full_disk_cases(work: Path, model: Path, text: Path) -> list[Row]:
    """annotate, evaluate and export-spacy onto a disk that fills up: one clear line, what was written kept,
    and annotate --resume finishes once there is room (the same output as a run with room to spare)."""
    disk = work / "disk"
    big = work / "big.txt"
    big.write_text(text.read_text(encoding="utf-8") * 40, encoding="utf-8")
    reference = work / "reference.jsonl"
    small_chunks = ["--batch-size", "16"]  # chunks of 256 records: several are written before the disk is full
    subprocess.run([*TAGGER, "annotate", str(model), str(big), "-o", str(reference), *small_chunks], cwd=work, check=True, capture_output=True)
    rows: list[Row] = []
    with tiny_disk(disk, "400k") as mounted:
        if not mounted:
            return [("a full disk (tmpfs)", "skipped", "mounting a tmpfs needs root")]
        output = disk / "out.jsonl"
        kind, said = run([*TAGGER, "annotate", str(model), str(big), "-o", str(output), *small_chunks], work)
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        run([*TAGGER, "annotate", str(model), str(big), "-o", str(output), "--resume", *small_chunks], work)
        same = output.is_file() and output.read_bytes() == reference.read_bytes()
        rows.append(("annotate onto a full disk, then --resume with room", kind if same or kind != "clear" else "lost",
                     last_line(said) + ("; the resume equals an uninterrupted run" if same else "; the resume differs")))
    for name, args in [("evaluate -o onto a full disk", ["evaluate", str(model), "sample:test", "-o", "pred.jsonl", "--report", "report"]),
                       ("export-spacy onto a full disk", ["export-spacy", str(model), "pipeline"])]:
        with tiny_disk(work / "small-disk", "24k"):
            kind, said = run([*TAGGER, *args], work / "small-disk")
            left = sorted(path.name for path in (work / "small-disk").iterdir())
        rows.append((name, kind, f"{last_line(said)[:80]} (left: {', '.join(left) or 'nothing'})"))
    return rows


def worker_cases(work: Path, model: Path, config: Path, text: Path) -> list[Row]:
    """``annotate --workers 2`` while its model directory is replaced by another model: every record is
    labelled by the model the run loaded (the same output as one process with that model)."""
    base = work / "workers"
    base.mkdir()
    first, other = base / "model", base / "other"
    shutil.copytree(model, first)
    subprocess.run([*TAGGER, "train", str(config), "-o", str(other), "--set", "seed=8"], cwd=work, check=True, capture_output=True)
    big = base / "in.txt"
    big.write_text(text.read_text(encoding="utf-8") * 40, encoding="utf-8")
    reference, output = base / "one.jsonl", base / "two.jsonl"
    small_chunks = ["--batch-size", "8"]
    subprocess.run([*TAGGER, "annotate", str(first), str(big), "-o", str(reference), *small_chunks], cwd=work, check=True, capture_output=True)
    process = subprocess.Popen([*TAGGER, "annotate", str(first), str(big), "-o", str(output), "--workers", "2", *small_chunks], cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress = output.with_name(output.name + ".partial.progress")
    deadline = time.monotonic() + 120
    while not progress.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    swapped = process.poll() is None
    if swapped:  # the directory now holds the other model, as after `mv other model`
        shutil.rmtree(first)
        shutil.copytree(other, first)
    _, said = process.communicate(timeout=600)
    same = output.is_file() and output.read_bytes() == reference.read_bytes()
    kind = "traceback" if "Traceback" in said else "ok" if same and swapped else "skipped" if not swapped else "silent"
    return [("annotate --workers 2 while its model directory is replaced", kind,
             "every record labelled by the model the run loaded" if same else last_line(said) or "the output differs")]


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
    rows += output_cases(work, model)
    rows += record_cases(work, model)
    rows += full_disk_cases(work, model, text)
    rows += worker_cases(work, model, config, text)

    table = Table(title="bad inputs: each must be refused with a clear error")
    for column in ("case", "outcome", "last line"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console = Console(width=200, emoji=False)
    console.print(table)
    counts = {kind: sum(row[1] == kind for row in rows) for kind in OUTCOMES}
    console.print(f"{len(rows)} cases: {counts['clear']} clear errors, {counts['ok']} handled (must succeed, and did), "
                  f"{counts['traceback']} tracebacks, {counts['silent']} silent, {counts['hang']} hangs, {counts['lost']} lost data, "
                  f"{counts['skipped']} skipped")
    kept = (work / "existing.jsonl").read_text(encoding="utf-8") == "precious\n"
    console.print(f"existing.jsonl kept: {kept}; input kept: {text.is_file()}; model kept: {(model / 'model.safetensors').is_file()}")


if __name__ == "__main__":
    main()
