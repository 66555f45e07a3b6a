"""Predictions -> JSONL, CoNLL-U or column lines, or a spaCy DocBin (tagger.annotate writes the files)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tagger.core.types import Prediction

if TYPE_CHECKING:
    from tagger.core.model_info import ModelInfo

WRITE_FORMATS = ("jsonl", "conllu", "conll", "html", "spacy")
Formatter = Callable[[Prediction, int], str]  # (prediction, its 1-based number in the output) -> its text


def format_jsonl(prediction: Prediction) -> str:
    record = prediction.to_dict()
    original = prediction.meta.get("record")
    if isinstance(original, dict):  # carry the input record's other fields through
        record = {**{k: v for k, v in original.items() if k not in record}, **record}
    return json.dumps(record, ensure_ascii=False) + "\n"


CONLLU_COLUMNS = {"lemma": 2, "upos": 3, "xpos": 4, "feats": 5}  # tasks with a CoNLL-U column of their own


def misc_key(task: str) -> str:
    return "NER" if task == "ner" else task


def format_conllu(prediction: Prediction, index: int) -> str:
    """UPOS, XPOS, LEMMA and FEATS go to their columns; other tasks to MISC as ``Task=label``.

    A sentence read from CoNLL-U (with its lines kept) is written back as it was read, but for
    the columns and MISC keys the model predicts.
    """
    if "conllu_lines" in prediction.meta:
        return _rewrite_conllu(prediction.meta["conllu_lines"], prediction.tags)
    lines = [f"# sent_id = {prediction.meta.get('sent_id', index)}"]
    if prediction.text is not None:
        lines.append(f"# text = {' '.join(prediction.text.splitlines())}")  # any line break (CR, U+2028...) would end the comment
    others = [t for t in prediction.tags if t not in CONLLU_COLUMNS]
    for i, token in enumerate(prediction.tokens):
        misc = [f"{misc_key(task)}={prediction.tags[task][i]}" for task in others]
        if prediction.offsets and i + 1 < len(prediction.tokens) and prediction.offsets[i][1] == prediction.offsets[i + 1][0]:
            misc.append("SpaceAfter=No")
        fields = [str(i + 1), token, "_", "_", "_", "_", "_", "_", "_", "|".join(misc) or "_"]
        for task, column in CONLLU_COLUMNS.items():
            if task in prediction.tags:
                fields[column] = prediction.tags[task][i]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n\n"


def _rewrite_conllu(lines: list[str], tags: dict[str, list[str]]) -> str:
    """The sentence's lines as read, with each word line's predicted columns and MISC keys replaced."""
    out = []
    for line in lines:
        fields = line.split("\t")
        if not fields[0].isdigit():  # comments, blank lines, multiword tokens, empty nodes
            out.append(line)
            continue
        i = int(fields[0]) - 1
        misc = [] if fields[9] == "_" else fields[9].split("|")
        for task, labels in tags.items():
            if task in CONLLU_COLUMNS:
                fields[CONLLU_COLUMNS[task]] = labels[i]
                continue
            key = misc_key(task)
            item = f"{key}={labels[i]}"
            places = [n for n, old in enumerate(misc) if old.partition("=")[0] == key]
            if places:
                misc[places[0]] = item
            else:
                misc.append(item)
        fields[9] = "|".join(misc) or "_"
        out.append("\t".join(fields))
    return "\n".join(out) + "\n\n"


def format_conll(prediction: Prediction) -> str:
    """One token per line: the token, then one column per task; a blank line after each sentence.

    A sentence read from a column file (with its lines kept) keeps its lines and every column
    they had, and gets one column per task appended (as CoNLL's evaluation script reads gold and
    predicted labels side by side); comments and ``-DOCSTART-`` lines before it are kept.
    """
    if "column_lines" in prediction.meta:
        rows = []
        for i, line in enumerate(prediction.meta["column_lines"]):
            separator = "\t" if "\t" in line else " "
            rows.append(separator.join([line, *(tags[i] for tags in prediction.tags.values())]))
        return "".join(line + "\n" for line in prediction.meta["column_prefix"]) + "\n".join(rows) + "\n\n"
    rows = ["\t".join([token, *(tags[i] for tags in prediction.tags.values())]) for i, token in enumerate(prediction.tokens)]
    return "\n".join(rows) + "\n\n"


def formatter(fmt: str, info: ModelInfo, label_map: Mapping[str, str] | None = None) -> Formatter:
    """How each prediction is written in a text format: ``jsonl``, ``conllu``, ``conll`` or ``html``
    (``label_map``: entity types renamed, on the page only)."""
    if fmt == "jsonl":
        return lambda prediction, index: format_jsonl(prediction)
    if fmt == "conllu":
        return format_conllu
    if fmt == "conll":
        return lambda prediction, index: format_conll(prediction)
    if fmt == "html":
        from tagger.data.html import HtmlFormatter

        return HtmlFormatter(info, label_map)
    raise ValueError(f"unknown text output format {fmt!r}; choose one of jsonl, conllu, conll, html")


class DocBinWriter:
    """Predictions -> a spaCy DocBin (``.spacy``): each task goes where the spaCy component puts it
    (:class:`tagger.data.doc_targets.DocTargets`: UPOS -> pos, XPOS -> tag, first span task -> ents,
    other span tasks -> ``doc.spans``, other tasks -> ``token._``).

    A DocBin is serialized whole, so it is kept in memory (compact arrays, not Docs) until ``save``.
    """

    def __init__(self, info: ModelInfo, tasks: Collection[str] | None = None, scores: bool = False,
                 label_map: Mapping[str, str] | None = None) -> None:
        """``tasks``: only those tasks' labels (None: all); each keeps the place it has with all of them.
        ``scores``: each token's label probabilities in ``token._.birnn_scores``. ``label_map``: entity
        types renamed (as the component's ``label_map``)."""
        import spacy
        from spacy.tokens import DocBin

        from tagger.data.doc_targets import DocTargets

        self.vocab = spacy.blank(info.config.lang).vocab
        left_out = {task: "" for task in info.tasks if tasks is not None and task not in tasks}
        self.targets = DocTargets(info.tasks, left_out, scores, label_map)
        self.doc_bin = DocBin(store_user_data=True)

    def add(self, prediction: Prediction) -> None:
        from spacy.tokens import Doc

        tokens, offsets = prediction.tokens, prediction.offsets
        if offsets:  # a space after a token where the text has a gap before the next
            spaces = [i + 1 < len(tokens) and offsets[i][1] < offsets[i + 1][0] for i in range(len(tokens))]
        else:
            spaces = [i + 1 < len(tokens) for i in range(len(tokens))]
        doc = Doc(self.vocab, words=tokens, spaces=spaces)
        words = list(doc)
        self.targets.write_tokens(words, prediction)
        self.targets.write_spans(doc, self.targets.spans(doc, words, prediction))
        self.doc_bin.add(doc)

    def save(self, path: Path) -> None:
        from tagger.files.atomic import write_atomic

        write_atomic(path, self.doc_bin.to_bytes())
