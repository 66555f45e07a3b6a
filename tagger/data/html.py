"""Predictions -> an HTML page to look at: each document's entities highlighted by spaCy's displaCy,
its tokens with their tags below them (every task's tag on hover).

The page is written one document at a time (the head comes with the first), so an HTML output
streams and resumes like the other text formats; HTML lets a page end without ``</body></html>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING

from tagger.core.types import Prediction

if TYPE_CHECKING:
    from tagger.core.model_info import ModelInfo

# displaCy's colours for the labels NER corpora share (PER as PERSON, LOC as displaCy's LOC); any other
# label gets a hue from its name (entity_colour). The service's page at GET / takes this table too.
ENTITY_COLOURS = {
    "PER": "#aa9cfc", "PERSON": "#aa9cfc", "ORG": "#7aecec", "LOC": "#ff9561", "GPE": "#feca74", "MISC": "#c887fb",
    "NORP": "#c887fb", "FAC": "#9cc9cc", "PRODUCT": "#bfeeb7", "EVENT": "#ffeb80", "WORK_OF_ART": "#f0d0ff", "LAW": "#ff8197",
    "LANGUAGE": "#ff8197", "DATE": "#bfe1d9", "TIME": "#bfe1d9", "MONEY": "#e4e7d2", "QUANTITY": "#e4e7d2",
    "PERCENT": "#e4e7d2", "ORDINAL": "#e4e7d2", "CARDINAL": "#e4e7d2",
}


def entity_colour(label: str) -> str:
    """``label``'s colour: from ENTITY_COLOURS, else a hue from its name (the page's script does the same)."""
    if label in ENTITY_COLOURS:
        return ENTITY_COLOURS[label]
    hue = 0
    for character in label:
        hue = (hue * 31 + ord(character)) % 360
    return f"hsl({hue}, 75%, 82%)"


HEAD = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; color: #222; }}
section.doc {{ border-top: 1px solid #ddd; padding: 0.5em 0 1em; }}
section.doc h2 {{ font-size: 0.9em; color: #666; font-weight: normal; margin: 0.5em 0; }}
.task {{ font-size: 0.75em; color: #666; text-transform: uppercase; letter-spacing: 0.05em; }}
p.tokens {{ line-height: 2.8; }}
p.tokens ruby {{ margin-right: 0.5em; ruby-position: under; }}
p.tokens rt {{ font-size: 0.65em; color: #555; font-family: monospace; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Model <code>{model}</code>. {legend}</p>
"""


class HtmlFormatter:
    """One document of the page at a time: ``formatter(prediction, index)``, the head with index 1.

    ``label_map`` renames entity types (``{"PER": "PERSON", "LOC": "GPE"}``, checked against the
    model's: :func:`tagger.data.doc_targets.check_label_map`), on the highlighted entities, in their
    colours (displaCy's for the new names) and in the BIO tags of the tooltips.
    """

    def __init__(self, info: ModelInfo, label_map: Mapping[str, str] | None = None) -> None:
        from tagger.data.doc_targets import check_label_map, span_labels

        self.lang = info.config.lang
        self.model = info.name
        self.label_map = check_label_map(label_map, info.tasks, "--label-map")
        labels = {self.label_map.get(label, label) for label in span_labels(info.tasks)}
        self.colors = {escape(label): entity_colour(label) for label in labels}

    def __call__(self, prediction: Prediction, index: int) -> str:
        token_tasks = [task for task in prediction.tags if task not in prediction.spans]
        parts = [self._head(token_tasks)] if index == 1 else []
        parts.append(f'<section class="doc"><h2>{escape(_where(prediction, index))}</h2>')
        for task in prediction.spans:
            parts.append(f'<div class="task">{escape(task)}</div>{self._entities(prediction, task)}')
        if token_tasks:
            parts.append(_tokens(prediction, token_tasks[0], self._renamed_tags(prediction)))
        parts.append("</section>\n")
        return "".join(parts)

    def _head(self, token_tasks: list[str]) -> str:
        legend = f"Below each token: its {escape(token_tasks[0])} tag; hover for every task's (and, with --scores, its probability)." if token_tasks else ""
        return HEAD.format(lang=escape(self.lang), title="birnn-tagger annotations", model=escape(self.model), legend=legend)

    def _entities(self, prediction: Prediction, task: str) -> str:
        from spacy import displacy

        text, offsets = _text_and_offsets(prediction)
        rename = self.label_map
        ents = [{"start": offsets[span.start][0], "end": offsets[span.end - 1][1], "label": escape(rename.get(span.label, span.label))}
                for span in prediction.spans[task]]
        return displacy.render({"text": text, "ents": ents}, style="ent", manual=True, page=False, minify=True, jupyter=False,
                               options={"colors": self.colors})

    def _renamed_tags(self, prediction: Prediction) -> dict[str, list[str]]:
        """The prediction's tags, with the entity types in the BIO tags of span tasks renamed by the label map."""
        if not self.label_map:
            return prediction.tags
        rename = self.label_map
        return {task: [tag[:2] + rename.get(tag[2:], tag[2:]) if task in prediction.spans and tag[1:2] == "-" else tag for tag in tags]
                for task, tags in prediction.tags.items()}


def _tokens(prediction: Prediction, shown: str, all_tags: Mapping[str, list[str]] | None = None) -> str:
    """Each token over its ``shown`` task's tag; every task's tag (``all_tags``, default the prediction's) and
    probability, with scores, in its tooltip."""
    words = []
    for i, token in enumerate(prediction.tokens):
        tip = ", ".join(f"{task} {tags[i]}" + (f" ({prediction.scores[task][i]:.2f})" if task in prediction.scores else "")
                        for task, tags in (all_tags or prediction.tags).items())
        words.append(f'<ruby title="{escape(tip)}">{escape(token)}<rt>{escape(prediction.tags[shown][i])}</rt></ruby>')
    return f'<p class="tokens">{" ".join(words)}</p>'


def _text_and_offsets(prediction: Prediction) -> tuple[str, list[tuple[int, int]]]:
    """The document's text and each token's offsets into it; token lists are joined by spaces."""
    if prediction.text is not None and prediction.offsets:
        return prediction.text, list(prediction.offsets)
    offsets, position = [], 0
    for token in prediction.tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(prediction.tokens), offsets


def _where(prediction: Prediction, index: int) -> str:
    """``document 3 (line 4)``: where the document came from, as far as its reader said."""
    meta = prediction.meta
    named = [f"{key} {meta[key]}" for key in ("sent_id", "line") if meta.get(key) not in (None, "")]
    if not named and meta.get("source"):
        named = [str(meta["source"])]  # a file of a folder or glob, one document each
    return f"document {index}" + (f" ({', '.join(named)})" if named else "")
