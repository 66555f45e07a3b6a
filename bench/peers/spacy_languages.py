"""spaCy trained from scratch on nine corpora, gold words in and out: the peer row for each language.

UPOS (spaCy ``tagger``, ``tag_`` = UPOS): ud-hu-szeged, ud-af-afribooms, ud-vi-vtb, ud-en-ewt.
NER (spaCy ``ner``, PER/ORG/LOC): uner-da-ddt, uner-sv-talbanken, uner-zh-gsdsimp, uner-pt-bosque,
uner-en-ewt.

Per dataset, in ``WORK/<dataset>/`` (``WORK`` = ``../runs/languages/spacy`` from the project root,
outside the repository):

1. ``{train,dev,test}.spacy``: one Doc per sentence, ``Doc(vocab, words=tokens)`` from the project's
   reader (``read_corpus(path, "conllu")`` or ``read_corpus(path, "iob2")``); UPOS into ``tag_`` and
   ``pos_``, entities into ``doc.ents`` (IOB2 decoded leniently: a stray ``I-`` opens a span, as the
   project does). Such Docs have unknown spaces, so spaCy's corpus reader trains and evaluates on
   these gold words, never through the language's tokenizer (pyvi, character segmentation for zh).
2. ``python -m spacy init config --lang LANG --pipeline tagger|ner --optimize efficiency config.cfg``
   (CPU, spaCy's defaults: patience 1600, max_steps 20000, eval every 200 steps, seed 0).
3. ``python -m spacy train config.cfg --output model --paths.train train.spacy --paths.dev dev.spacy
   --system.seed 0``, its output in ``train.log``; wall-clock minutes recorded.
4. ``model/model-best`` on the TEST split, gold words (``Doc(vocab, words=...)``, no tokenizer):
   UPOS accuracy of ``tag_`` over tokens with a gold label; entity precision/recall/F1 by exact
   (start, end, label) match, micro over the test sentences (seqeval's strict IOB2 figure).
   Words/s: ``nlp.pipe(docs, batch_size=256)`` over the test Docs (made before the clock starts,
   so tokenization is excluded), one untimed warm-up pass, then the best of 3 timed passes.
5. ``result.json`` with the figures, the commands and the spaCy version.

Commands used (2026-12-05, from the project root, one dataset at a time on one core):

    . .venv/bin/activate
    for d in ud-hu-szeged ud-af-afribooms ud-vi-vtb uner-da-ddt uner-sv-talbanken uner-zh-gsdsimp \\
             uner-pt-bosque ud-en-ewt uner-en-ewt; do
        OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 taskset -c 1 \\
            python bench/peers/spacy_languages.py --datasets $d > ../runs/languages/spacy/$d.log 2>&1
    done
    python bench/peers/spacy_languages.py --table

``--eval-only`` re-evaluates an existing ``model/model-best`` without training again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from tagger.core.types import Sentence
from tagger.data.readers import read_corpus

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPORA = Path(os.environ.get("BIRNN_TAGGER_DATA", ROOT.parent / "shared" / "corpora"))
DEFAULT_WORK = ROOT.parent / "runs" / "languages" / "spacy"
SPLITS = ("train", "dev", "test")
NER_LABELS = frozenset({"PER", "ORG", "LOC"})
SEED = 0
BATCH_SIZE = 256
TIMED_PASSES = 3
LOG_ROW = re.compile(r"^\s*\d+\s+\d+(\s+[\d.]+){4,}\s*$")

Triple = tuple[int, int, str]


@dataclass(frozen=True)
class Dataset:
    """One corpus: where its files are, which task it is for, which spaCy language it gets."""

    name: str
    task: str  # "upos" or "ner"
    lang: str
    stem: str  # file name before "-train.conllu" etc.

    @property
    def fmt(self) -> str:
        return "conllu" if self.task == "upos" else "iob2"

    @property
    def component(self) -> str:
        return "tagger" if self.task == "upos" else "ner"

    def path(self, corpora: Path, split: str) -> Path:
        return corpora / self.name / f"{self.stem}-{split}.{self.fmt}"


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (  # smallest first: the order the runs were made in
        Dataset("ud-hu-szeged", "upos", "hu", "hu_szeged-ud"),
        Dataset("ud-af-afribooms", "upos", "af", "af_afribooms-ud"),
        Dataset("ud-vi-vtb", "upos", "vi", "vi_vtb-ud"),
        Dataset("uner-da-ddt", "ner", "da", "da_ddt-ud"),
        Dataset("uner-sv-talbanken", "ner", "sv", "sv_talbanken-ud"),
        Dataset("uner-zh-gsdsimp", "ner", "zh", "zh_gsdsimp-ud"),
        Dataset("uner-pt-bosque", "ner", "pt", "pt_bosque-ud"),
        Dataset("ud-en-ewt", "upos", "en", "en_ewt-ud"),
        Dataset("uner-en-ewt", "ner", "en", "en_ewt-ud"),
    )
}


# ---------------------------------------------------------------- gold data


def read_split(dataset: Dataset, corpora: Path, split: str) -> list[Sentence]:
    return list(read_corpus(dataset.path(corpora, split), dataset.fmt))


def bio_spans(tags: Sequence[str]) -> list[Triple]:
    """IOB2 tags -> (start, end, label) spans; an I- that continues nothing opens a span."""
    spans: list[Triple] = []
    start, label = -1, ""
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, tag_label = tag.partition("-")
        continues = prefix == "I" and start >= 0 and tag_label == label
        if continues:
            continue
        if start >= 0:
            spans.append((start, i, label))
        start, label = (i, tag_label) if prefix in ("B", "I") else (-1, "")
    return spans


def gold_spans(sentence: Sentence, where: str) -> list[Triple]:
    spans = bio_spans(sentence.tags["ner"])
    unknown = {label for _, _, label in spans} - NER_LABELS
    if unknown:
        raise ValueError(f"{where}: labels other than PER/ORG/LOC: {sorted(unknown)}")
    return spans


def gold_doc(nlp: Language, dataset: Dataset, sentence: Sentence, where: str) -> Doc:
    doc = Doc(nlp.vocab, words=sentence.tokens)
    if dataset.task == "upos":
        for token, upos in zip(doc, sentence.tags["upos"]):
            if upos:
                token.tag_ = upos
                token.pos_ = upos
    else:
        doc.ents = [Span(doc, start, end, label=label) for start, end, label in gold_spans(sentence, where)]
    return doc


def build_docbins(dataset: Dataset, corpora: Path, out: Path) -> dict[str, dict[str, int]]:
    """Write ``out/{split}.spacy``; return sentence and word counts per split."""
    nlp = spacy.blank("xx")  # only a vocab is needed; no tokenizer runs
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        sentences = read_split(dataset, corpora, split)
        where = str(dataset.path(corpora, split))
        docs = [gold_doc(nlp, dataset, sentence, where) for sentence in sentences]
        DocBin(docs=docs).to_disk(out / f"{split}.spacy")
        counts[split] = {"sentences": len(docs), "words": sum(len(doc) for doc in docs)}
        if dataset.task == "ner":
            counts[split]["entities"] = sum(len(doc.ents) for doc in docs)
        print(f"{dataset.name} {split}: {counts[split]}", flush=True)
    return counts


# ---------------------------------------------------------------- training


def spacy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "spacy", *args]


def init_config_command(dataset: Dataset, out: Path) -> list[str]:
    return spacy_command(
        "init", "config", str(out / "config.cfg"), "--lang", dataset.lang,
        "--pipeline", dataset.component, "--optimize", "efficiency", "--force",
    )


def train_command(out: Path) -> list[str]:
    return spacy_command(
        "train", str(out / "config.cfg"), "--output", str(out / "model"),
        "--paths.train", str(out / "train.spacy"), "--paths.dev", str(out / "dev.spacy"),
        "--system.seed", str(SEED),
    )


def run_logged(command: list[str], log: Path) -> float:
    """Run ``command`` with its output in ``log``; return wall-clock seconds. Raises on failure."""
    print("$ " + " ".join(command), flush=True)
    started = time.perf_counter()
    with log.open("w") as handle:
        subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - started


def parse_train_log(log: Path) -> dict[str, Any]:
    """Epoch and step of the last evaluation row spaCy printed, and the step of the best dev score.

    A row is: epoch, step, the tok2vec loss, the component's loss, then TAG_ACC or ENTS_F (percent)."""
    rows = [line.split() for line in log.read_text().splitlines() if LOG_ROW.match(line)]
    if not rows:
        return {}
    best = max(rows, key=lambda row: float(row[4]))  # the first of equals, as spaCy keeps the first best
    return {"steps": int(rows[-1][1]), "epoch_last": int(rows[-1][0]), "best_step": int(best[1])}


def best_dev_score(dataset: Dataset, model: Path) -> float:
    """model-best's dev score as spaCy recorded it (tag_acc or ents_f), in percent."""
    performance = json.loads((model / "meta.json").read_text())["performance"]
    return round(100 * performance["tag_acc" if dataset.task == "upos" else "ents_f"], 2)


# ---------------------------------------------------------------- evaluation


def fresh_docs(nlp: Language, sentences: Iterable[Sentence]) -> list[Doc]:
    return [Doc(nlp.vocab, words=sentence.tokens) for sentence in sentences]


def upos_scores(docs: Sequence[Doc], sentences: Sequence[Sentence]) -> dict[str, float]:
    right = total = 0
    for doc, sentence in zip(docs, sentences, strict=True):
        for token, gold in zip(doc, sentence.tags["upos"], strict=True):
            if gold:
                total += 1
                right += token.tag_ == gold
    return {"score": round(100 * right / total, 2), "scored_tokens": total}


def ner_scores(docs: Sequence[Doc], sentences: Sequence[Sentence], where: str) -> dict[str, float]:
    hits = predicted = gold_total = 0
    for doc, sentence in zip(docs, sentences, strict=True):
        gold = set(gold_spans(sentence, where))
        guess = {(ent.start, ent.end, ent.label_) for ent in doc.ents}
        hits += len(gold & guess)
        predicted += len(guess)
        gold_total += len(gold)
    precision = hits / predicted if predicted else 0.0
    recall = hits / gold_total if gold_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "score": round(100 * f1, 2), "precision": round(100 * precision, 2), "recall": round(100 * recall, 2),
        "gold_entities": gold_total, "predicted_entities": predicted,
    }


def timed_pass(nlp: Language, sentences: Sequence[Sentence]) -> tuple[float, list[Doc]]:
    docs = fresh_docs(nlp, sentences)  # before the clock: tokenization excluded
    started = time.perf_counter()
    done = list(nlp.pipe(docs, batch_size=BATCH_SIZE))
    return time.perf_counter() - started, done


def evaluate(dataset: Dataset, corpora: Path, model: Path) -> dict[str, Any]:
    nlp = spacy.load(model)
    sentences = read_split(dataset, corpora, "test")
    words = sum(len(sentence) for sentence in sentences)
    _, docs = timed_pass(nlp, sentences)  # warm-up; its output is scored
    seconds = [timed_pass(nlp, sentences)[0] for _ in range(TIMED_PASSES)]
    if dataset.task == "upos":
        scores = upos_scores(docs, sentences)
    else:
        scores = ner_scores(docs, sentences, str(dataset.path(corpora, "test")))
    return {
        **scores,
        "test_sentences": len(sentences),
        "test_words": words,
        "words_per_second": round(words / min(seconds), 1),
        "pass_seconds": [round(s, 3) for s in seconds],
        "pipeline": nlp.pipe_names,
    }


# ---------------------------------------------------------------- one dataset, the table


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": model, "affinity": sorted(os.sched_getaffinity(0)),
            "threads_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}


def run_dataset(dataset: Dataset, corpora: Path, work: Path, eval_only: bool) -> dict[str, Any]:
    out = work / dataset.name
    out.mkdir(parents=True, exist_ok=True)
    counts = build_docbins(dataset, corpora, out)
    commands = [init_config_command(dataset, out), train_command(out)]
    result_path = out / "result.json"
    previous = json.loads(result_path.read_text()) if result_path.exists() else {}
    if eval_only:
        train_minutes = previous.get("train_minutes")
    else:
        run_logged(commands[0], out / "init-config.log")
        train_minutes = round(run_logged(commands[1], out / "train.log") / 60, 2)
    result = {
        "dataset": dataset.name,
        "task": dataset.task,
        "lang": dataset.lang,
        "component": dataset.component,
        "train_sentences": counts["train"]["sentences"],
        "train_words": counts["train"]["words"],
        "dev_sentences": counts["dev"]["sentences"],
        **evaluate(dataset, corpora, out / "model" / "model-best"),
        "train_minutes": train_minutes,
        **parse_train_log(out / "train.log"),
        "best_dev_score": best_dev_score(dataset, out / "model" / "model-best"),
        "spacy_version": spacy.__version__,
        "seed": SEED,
        "batch_size": BATCH_SIZE,
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "commands": [" ".join(command) for command in commands],
    }
    result_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: result.get(k) for k in ("dataset", "score", "train_minutes", "words_per_second", "steps")}), flush=True)
    return result


def print_table(work: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"spaCy from scratch, gold words ({work})")
    for column in ("dataset", "task", "lang", "train sents", "test words", "score", "P", "R",
                   "train min", "words/s", "steps", "epoch", "best dev"):
        table.add_column(column, justify="left" if column in ("dataset", "task", "lang") else "right")
    order = {name: i for i, name in enumerate(DATASETS)}
    results = [json.loads(p.read_text()) for p in work.glob("*/result.json")]
    for r in sorted(results, key=lambda r: order.get(r["dataset"], len(order))):
        cells = [r["dataset"], r["task"], r["lang"], r.get("train_sentences"), r.get("test_words"),
                 r.get("score"), r.get("precision", ""), r.get("recall", ""), r.get("train_minutes"),
                 f"{r['words_per_second']:,.0f}", r.get("steps"), r.get("epoch_last"), r.get("best_dev_score")]
        table.add_row(*("" if c is None else str(c) for c in cells))
    Console(width=160).print(table)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=None,
                        help="datasets to run, in the order given (default: all, smallest first)")
    parser.add_argument("--corpora", type=Path, default=DEFAULT_CORPORA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder, outside the repository")
    parser.add_argument("--eval-only", action="store_true", help="evaluate an existing model-best again")
    parser.add_argument("--table", action="store_true", help="print a table of every result.json in --work")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.table and args.datasets is None:
        print_table(args.work)
        return
    for name in args.datasets or list(DATASETS):
        run_dataset(DATASETS[name], args.corpora, args.work, args.eval_only)
    if args.table:
        print_table(args.work)


if __name__ == "__main__":
    main()
