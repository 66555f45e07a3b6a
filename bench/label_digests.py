"""The labels a model gives on a corpus, through every front end, as sha256 digests: run it on two
versions of the package to show that a change left the labels byte for byte as they were.

    python bench/label_digests.py --model models/uner-en-ewt-ner --corpus ../shared/corpora/ud-en-ewt/en_ewt-ud-test.conllu
    python bench/label_digests.py ... --code ../old-checkout      # the same with another checkout's package

Front ends: ``tagger evaluate -o`` (predictions beside the gold labels; the corpus must have labels for
one of the model's tasks), ``tagger annotate`` on the corpus file, ``Tagger.predict`` on the sentences'
raw text (the first ``--texts``), and the spaCy component's entities and tags on the same texts. Only
what every version has is used: the commands, ``from tagger import Tagger`` and ``nlp.add_pipe``.
Each runs in a fresh process with one thread, in ``--code`` (default this checkout) as its working
folder, so that its ``tagger`` package is the one imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

API = """
import json, sys
from tagger import Tagger
texts = json.load(open(sys.argv[2], encoding="utf-8"))
with open(sys.argv[3], "w", encoding="utf-8") as out:
    for p in Tagger.load(sys.argv[1]).predict(texts):
        out.write(json.dumps({"tokens": p.tokens, "tags": p.tags}) + "\\n")
"""
SPACY = """
import json, sys
import spacy
texts = json.load(open(sys.argv[2], encoding="utf-8"))
nlp = spacy.blank("en")
nlp.add_pipe("birnn_tagger", config={"model": sys.argv[1]})
with open(sys.argv[3], "w", encoding="utf-8") as out:
    for doc in nlp.pipe(texts):
        out.write(json.dumps([[t.text, t.pos_, t.tag_] for t in doc] + [[e.text, e.label_, e.start_char] for e in doc.ents]) + "\\n")
"""


def sentence_texts(corpus: Path, limit: int) -> list[str]:
    """The first ``limit`` sentences' words, space-joined (CoNLL-U's FORM column, else the first column)."""
    texts, words = [], []
    for line in corpus.read_text(encoding="utf-8").splitlines() + [""]:
        fields = line.split("\t")
        if not line.strip():
            if words:
                texts.append(" ".join(words))
                words = []
        elif line.startswith("#"):
            continue
        elif len(fields) >= 10:
            if fields[0].isdigit():  # not a multiword range (1-2) or an empty node (1.1)
                words.append(fields[1])
        else:
            words.append(fields[0])
    return texts[:limit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a model directory")
    parser.add_argument("--corpus", required=True, type=Path, help="a labelled CoNLL-U or column file")
    parser.add_argument("--texts", type=int, default=500, help="sentences for the Python API and spaCy rows")
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1], help="the checkout whose package runs")
    args = parser.parse_args()
    model, corpus = str(Path(args.model).resolve()), args.corpus.resolve()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        texts = scratch / "texts.json"
        texts.write_text(json.dumps(sentence_texts(corpus, args.texts)), encoding="utf-8")
        runs = {
            "tagger evaluate -o": [sys.executable, "-m", "tagger.cli", "evaluate", model, str(corpus), "-o", str(scratch / "evaluate.jsonl")],
            "tagger annotate": [sys.executable, "-m", "tagger.cli", "annotate", model, str(corpus), "-o", str(scratch / "annotate.jsonl")],
            "Tagger.predict": [sys.executable, "-c", API, model, str(texts), str(scratch / "predict.jsonl")],
            "spaCy component": [sys.executable, "-c", SPACY, model, str(texts), str(scratch / "spacy.jsonl")],
        }
        for (name, command), output in zip(runs.items(), ("evaluate", "annotate", "predict", "spacy")):
            done = subprocess.run(command, cwd=args.code, env=env, capture_output=True, text=True)
            path = scratch / f"{output}.jsonl"
            if done.returncode or not path.is_file():
                rows.append((name, "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1], ""))
                continue
            data = path.read_bytes()
            lines = data.count(b"\n")
            rows.append((name, hashlib.sha256(data).hexdigest()[:16], f"{lines:,}"))
    table = Table(title=f"labels of {Path(model).name} on {corpus.name}, package from {args.code}")
    for column in ("front end", "sha256 (first 16)", "lines"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
