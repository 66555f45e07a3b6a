"""Predictions -> JSONL, CoNLL-U or column files, written to a temporary file and renamed at the end."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tagger.types import Prediction

WRITE_FORMATS = ("jsonl", "conllu", "conll")


@contextmanager
def atomic_output(path: str | Path) -> Iterator[IO[str]]:
    """Open ``path.partial`` for writing; rename it to ``path`` only when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="\n") as handle:
        yield handle
    os.replace(partial, path)


def format_jsonl(prediction: Prediction) -> str:
    record = prediction.to_dict()
    original = prediction.meta.get("record")
    if isinstance(original, dict):  # carry the input record's other fields through
        record = {**{k: v for k, v in original.items() if k not in record}, **record}
    return json.dumps(record, ensure_ascii=False) + "\n"


def format_conllu(prediction: Prediction, index: int) -> str:
    """UPOS and XPOS go to their columns; other tasks to MISC as ``Task=label``."""
    lines = [f"# sent_id = {prediction.meta.get('sent_id', index)}"]
    if prediction.text is not None:
        lines.append(f"# text = {prediction.text.replace(chr(10), ' ')}")
    others = [t for t in prediction.tags if t not in ("upos", "xpos")]
    for i, token in enumerate(prediction.tokens):
        misc = [f"{task.upper() if task == 'ner' else task}={prediction.tags[task][i]}" for task in others]
        if prediction.offsets and i + 1 < len(prediction.tokens) and prediction.offsets[i][1] == prediction.offsets[i + 1][0]:
            misc.append("SpaceAfter=No")
        upos = prediction.tags.get("upos", ["_"] * len(prediction.tokens))[i]
        xpos = prediction.tags.get("xpos", ["_"] * len(prediction.tokens))[i]
        lines.append("\t".join([str(i + 1), token, "_", upos, xpos, "_", "_", "_", "_", "|".join(misc) or "_"]))
    return "\n".join(lines) + "\n\n"


def format_conll(prediction: Prediction) -> str:
    """One token per line: the token, then one column per task; a blank line after each sentence."""
    rows = ["\t".join([token, *(tags[i] for tags in prediction.tags.values())]) for i, token in enumerate(prediction.tokens)]
    return "\n".join(rows) + "\n\n"


def format_prediction(prediction: Prediction, fmt: str, index: int) -> str:
    if fmt == "jsonl":
        return format_jsonl(prediction)
    if fmt == "conllu":
        return format_conllu(prediction, index)
    if fmt == "conll":
        return format_conll(prediction)
    raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(WRITE_FORMATS)}")
