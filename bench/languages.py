"""Nine datasets in eight languages: UPOS (en, vi, af, hu) and NER (en, zh, da, pt, sv) on
gold words, each trained by the one command a user would type (``tagger train NAME``, the family's config),
over 3 seeds, beside spaCy trained from scratch on the same split and the published figures.

    export BIRNN_TAGGER_DATA=../shared/corpora
    python bench/languages.py train --runs ../runs/languages --parallel 2     # 3 seeds each, threads=1, two at a time
    python bench/languages.py train --datasets ud-en-ewt uner-en-ewt --seeds 13   # fewer seeds where time is short
    python bench/languages.py speed --runs ../runs/languages                  # words/s of each best model, run alone
    python bench/languages.py table --runs ../runs/languages --spacy ../runs/languages/spacy --json languages.json

``train`` runs ``tagger train NAME --seeds 13,14,15 --set training.threads=1 -o RUNS/NAME`` per dataset
(``--parallel`` of them at once, so each gets one core); a dataset already done is kept (``--resume``).
``speed`` runs ``tagger benchmark RUNS/NAME NAME:test`` on the otherwise idle machine with spaCy's row's
settings: one thread, batches of 256 sentences, gold test words, an untimed pass, then the mean of 3 timed
(spaCy's row keeps its best of 3). ``table`` prints one row per dataset: test score mean ± sd over the seeds, the best-dev seed's score, training minutes per seed (the
tagger's epochs; a segmenter trained beside it is not counted), words/s; spaCy's row from
``bench/peers/spacy_languages.py`` (its efficiency config, one seed); the published figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

SEEDS = "13,14,15"
DATASETS = {  # name -> (task, metric)
    "ud-hu-szeged": "upos", "ud-af-afribooms": "upos", "ud-vi-vtb": "upos", "uner-da-ddt": "ner", "uner-sv-talbanken": "ner",
    "uner-zh-gsdsimp": "ner", "uner-pt-bosque": "ner", "ud-en-ewt": "upos", "uner-en-ewt": "ner",
}
# Universal NER's XLM-R large, in-language test F1 (Mayhew et al. 2024); UDPipe 2's UPOS-only tagger without
# BERT, aligned accuracy at the CoNLL 2018 shared task (UD 2.2).
PUBLISHED = {
    "uner-en-ewt": (86.0, "UNER XLM-R large"), "uner-zh-gsdsimp": (89.4, "UNER XLM-R large"), "uner-da-ddt": (82.7, "UNER XLM-R large"),
    "uner-pt-bosque": (90.4, "UNER XLM-R large"), "uner-sv-talbanken": (88.3, "UNER XLM-R large"),
    "ud-en-ewt": (96.32, "UDPipe 2, no BERT"), "ud-vi-vtb": (90.56, "UDPipe 2, no BERT"),
    "ud-af-afribooms": (97.90, "UDPipe 2, no BERT"), "ud-hu-szeged": (95.38, "UDPipe 2, no BERT"),
}


def tagger_command() -> list[str]:
    return [sys.executable, "-m", "tagger"]


def train_one(name: str, runs: Path, seeds: str) -> tuple[str, int]:
    log = runs / f"{name}.log"
    command = [*tagger_command(), "train", name, "--seeds", seeds, "--set", "training.threads=1", "-o", str(runs / name)]
    if (runs / name / "seed-13").exists():
        command.append("--resume")
    with log.open("a", encoding="utf-8") as handle:
        handle.write(" ".join(command) + "\n")
        handle.flush()
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT)
    return name, code


def train(args: argparse.Namespace) -> None:
    args.runs.mkdir(parents=True, exist_ok=True)
    names = args.datasets or list(DATASETS)
    with ThreadPoolExecutor(args.parallel) as pool:
        for name, code in pool.map(lambda n: train_one(n, args.runs, args.seeds), names):
            print(f"{name}: exit {code}", flush=True)


def speed(args: argparse.Namespace) -> None:
    """One core, batches of 256 sentences, the mean of 3 timed passes after a warm-up (spaCy's row: best of 3)."""
    for name in args.datasets or list(DATASETS):
        model = args.runs / name
        if not (model / "seeds.json").is_file():
            print(f"{name}: not trained yet", flush=True)
            continue
        result = subprocess.run([*tagger_command(), "benchmark", str(model), f"{name}:test", "--batch-sizes", "256",
                                 "--precisions", "fp32", "--threads", "1", "--passes", "3", "--json"],
                                capture_output=True, text=True, check=True)
        found = json.loads(result.stdout.strip().splitlines()[-1])["rows"][0]
        (model / "speed.json").write_text(json.dumps(found, indent=2), encoding="utf-8")
        print(f"{name}: {found['words_per_s']:,.0f} words/s", flush=True)


def row(name: str, runs: Path, spacy_runs: Path) -> dict:
    task = DATASETS[name]
    found: dict = {"dataset": name, "task": "UPOS accuracy" if task == "upos" else "NER F1"}
    seeds_file = runs / name / "seeds.json"
    if seeds_file.is_file():
        seeds = json.loads(seeds_file.read_text(encoding="utf-8"))
        values = [100 * run["test"][task] for run in seeds["runs"]]
        chosen = next(run for run in seeds["runs"] if run["seed"] == seeds["chosen"])
        found.update(ours_mean=statistics.fmean(values), ours_sd=statistics.stdev(values) if len(values) > 1 else 0.0,
                     ours_seeds=values, ours_best_dev_seed=100 * chosen["test"][task],
                     ours_minutes=statistics.fmean(run["seconds"] / 60 for run in seeds["runs"]))
    speed_file = runs / name / "speed.json"
    if speed_file.is_file():
        found["ours_words_per_second"] = json.loads(speed_file.read_text(encoding="utf-8"))["words_per_s"]
    spacy_file = spacy_runs / name / "result.json"
    if spacy_file.is_file():
        peer = json.loads(spacy_file.read_text(encoding="utf-8"))
        found.update(spacy=peer["score"], spacy_minutes=peer["train_minutes"], spacy_words_per_second=peer["words_per_second"])
    found["published"], found["published_by"] = PUBLISHED[name]
    return found


def table(args: argparse.Namespace) -> None:
    rows = [row(name, args.runs, args.spacy) for name in DATASETS]
    shown = Table(title="Gold words, test split: ours (mean over seeds) beside spaCy from scratch and the published figures")
    for column in ("dataset", "metric", "ours mean ± sd", "seeds", "best-dev seed", "min/seed", "words/s", "spaCy", "spaCy min",
                   "spaCy words/s", "ours - spaCy", "published"):
        shown.add_column(column, justify="left" if column in ("dataset", "metric", "published") else "right")

    def number(value: float | None, digits: int = 2) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    def spread(r: dict) -> str:
        if "ours_mean" not in r:
            return "-"
        return f"{r['ours_mean']:.2f}" + (f" ± {r['ours_sd']:.2f}" if len(r["ours_seeds"]) > 1 else "")

    for r in rows:
        mean = r.get("ours_mean")
        gap = mean - r["spacy"] if mean is not None and "spacy" in r else None
        shown.add_row(r["dataset"], r["task"], spread(r), str(len(r.get("ours_seeds", []))),
                      number(r.get("ours_best_dev_seed")), number(r.get("ours_minutes"), 1), number(r.get("ours_words_per_second"), 0),
                      number(r.get("spacy")), number(r.get("spacy_minutes"), 1), number(r.get("spacy_words_per_second"), 0),
                      f"{gap:+.2f}" if gap is not None else "-", f"{r['published']:.2f} ({r['published_by']})")
    Console(width=200).print(shown)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("train", "speed", "table"))
    parser.add_argument("--runs", type=Path, default=Path("../runs/languages"))
    parser.add_argument("--spacy", type=Path, default=Path("../runs/languages/spacy"))
    parser.add_argument("--datasets", nargs="*", choices=list(DATASETS))
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seeds", default=SEEDS, help="comma-separated training seeds (train)")
    parser.add_argument("--json")
    args = parser.parse_args()
    {"train": train, "speed": speed, "table": table}[args.step](args)


if __name__ == "__main__":
    main()
