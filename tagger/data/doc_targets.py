"""Where each task's labels go on a spaCy Doc, under which names, and the writing of them: shared by
the pipeline component and ``tagger annotate``'s ``.spacy`` output, so both put every label in the
same place. A label map (``{"PER": "PERSON", "LOC": "GPE"}``) renames span labels to a pipeline's
scheme: the component, ``.spacy`` and HTML outputs take one (:func:`parse_label_map`, :func:`check_label_map`).

This module imports only spaCy (the component's module is imported whenever spaCy makes a pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from spacy.parts_of_speech import IDS as UPOS_IDS
from spacy.tokens import Doc, Span, Token

from tagger.core.errors import ConfigError

if TYPE_CHECKING:
    from tagger.core.tasks import TaskSpec
    from tagger.core.types import Prediction

SCORES_EXTENSION = "birnn_scores"
TOKEN_ATTRIBUTES = ("pos", "tag", "morph", "lemma")
WHITESPACE_LABELS = {"pos": "SPACE", "tag": "_SP"}  # what a whitespace token gets, as spaCy's own trained pipelines do


@dataclass(frozen=True)
class Target:
    """Where one task's labels go: ``kind`` is a token attribute, ``ents``, ``spans`` or ``extension``."""

    kind: str
    key: str = ""  # the span group or the extension name

    @property
    def spelled(self) -> str:
        """As ``attrs`` spells it."""
        return {"spans": f"spans.{self.key}", "extension": f"_.{self.key}"}.get(self.kind, self.kind)

    @classmethod
    def parse(cls, value: str, task: str) -> Target | None:
        if value == "":
            return None
        if value in (*TOKEN_ATTRIBUTES, "ents"):
            return cls(value)
        prefix, _, key = value.partition(".")
        if key and prefix in ("spans", "_"):
            return cls("spans" if prefix == "spans" else "extension", key)
        raise ConfigError(
            f"attrs.{task}", f"{value!r} is not a target; use pos, tag, morph, lemma, ents, spans.KEY, _.NAME or '' (not written)"
        )


def default_targets(tasks: Mapping[str, TaskSpec]) -> dict[str, Target]:
    """UPOS-like task -> ``token.pos``, XPOS-like -> ``token.tag``, first span task -> ``doc.ents``,
    other span tasks -> ``doc.spans[task]``, anything else -> ``token._.<task>``."""
    targets: dict[str, Target] = {}
    for task, spec in tasks.items():
        taken = set(targets.values())
        if spec.is_span:
            target = Target("ents") if Target("ents") not in taken else Target("spans", task)
        elif task.lower() in ("upos", "pos") or (task.lower() != "xpos" and _all_upos(spec.labels)):
            target = Target("pos")
        elif task.lower() in ("xpos", "tag"):
            target = Target("tag")
        elif task.lower() in ("feats", "morph"):
            target = Target("morph")
        else:
            target = Target("extension", task)
        targets[task] = target if target not in taken else Target("extension", task)
    return targets


def span_labels(tasks: Mapping[str, TaskSpec]) -> tuple[str, ...]:
    """The entity types of the span tasks, in task and label order, without repeats."""
    return tuple(dict.fromkeys(label for spec in tasks.values() if spec.is_span for label in spec.span_labels))


def check_label_names(label_map: Mapping[str, str], key: str = "label_map") -> dict[str, str]:
    """``label_map`` as a dict, if each source and each new name is a non-empty string without whitespace
    (as spaCy's labels are); ConfigError naming ``key`` and the entry otherwise."""
    if not isinstance(label_map, Mapping):
        raise ConfigError(key, f"{label_map!r} is not a mapping of labels to new names, e.g. {{\"PER\": \"PERSON\", \"LOC\": \"GPE\"}}")
    for source, name in label_map.items():
        for value in (source, name):
            if not isinstance(value, str) or not value or any(character.isspace() for character in value):
                raise ConfigError(f"{key}.{source}", f"{value!r} is not a label: a label is a non-empty string without whitespace")
    return dict(label_map)


def check_label_map(label_map: Mapping[str, str] | None, tasks: Mapping[str, TaskSpec], key: str = "label_map") -> dict[str, str]:
    """:func:`check_label_names`, and every source label is an entity type of the model's span tasks
    (ConfigError naming the others and listing the model's)."""
    checked = check_label_names(label_map or {}, key)
    known = span_labels(tasks)
    unknown = [source for source in checked if source not in known]
    if unknown:
        have = f"its entity labels: {', '.join(known)}" if known else "it has no span task"
        raise ConfigError(key, f"the model has no entity label {', '.join(map(repr, unknown))} to rename; {have}")
    return checked


def parse_label_map(text: str, key: str = "--label-map") -> dict[str, str]:
    """``PER=PERSON,LOC=GPE`` (as a command-line option spells it) -> {"PER": "PERSON", "LOC": "GPE"};
    ConfigError naming ``key`` and the entry for anything else. Check it against a model with
    :func:`check_label_map`."""
    label_map: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        source, equals, name = (part.strip() for part in item.partition("="))
        if not equals or not source or not name:
            raise ConfigError(key, f"{item.strip()!r}: write each entry as LABEL=NEW_NAME, entries separated by commas (PER=PERSON,LOC=GPE)")
        if source in label_map and label_map[source] != name:
            raise ConfigError(key, f"{source!r} is renamed twice: to {label_map[source]!r} and to {name!r}")
        label_map[source] = name
    return check_label_names(label_map, key)


def _all_upos(labels: Sequence[str]) -> bool:
    return bool(labels) and all(label in UPOS_IDS and label not in ("", "SPACE") for label in labels)


class DocTargets:
    """Each task's place on a Doc (the defaults, changed by ``attrs``), checked against the tasks;
    the token extensions they need are registered. ``scores`` also writes ``token._.birnn_scores``.
    ``label_map`` renames entity types on the spans written to ``doc.ents`` and ``doc.spans``."""

    def __init__(self, tasks: Mapping[str, TaskSpec], attrs: Mapping[str, str] | None = None, scores: bool = False,
                 label_map: Mapping[str, str] | None = None) -> None:
        self.label_map = check_label_map(label_map, tasks)
        for task in attrs or {}:
            if task not in tasks:
                raise ConfigError(f"attrs.{task}", f"the model has no task {task!r}; its tasks: {', '.join(tasks)}")
        targets = default_targets(tasks)
        for task, value in (attrs or {}).items():
            target = Target.parse(value, task)
            if target is None:
                targets.pop(task)
            else:
                targets[task] = target
        for task, target in targets.items():
            _check(tasks[task], target)
        spelled = [target.spelled for target in targets.values()]
        if len(set(spelled)) < len(spelled):
            raise ConfigError("attrs", f"two tasks write to the same place: {dict(zip(targets, spelled))}")
        for target in targets.values():
            if target.kind == "extension" and not Token.has_extension(target.key):
                Token.set_extension(target.key, default=None)
        if scores and not Token.has_extension(SCORES_EXTENSION):
            Token.set_extension(SCORES_EXTENSION, default=None)
        self.targets, self.scores = targets, scores

    @property
    def spelled(self) -> dict[str, str]:
        """Task -> where its labels go, as ``attrs`` would spell it."""
        return {task: target.spelled for task, target in self.targets.items()}

    def write_tokens(self, words: Sequence[Token], prediction: Prediction) -> None:
        """The token labels (and scores) of one prediction onto the tokens it was made for."""
        for task, target in self.targets.items():
            if target.kind in ("ents", "spans"):
                continue
            for token, label in zip(words, prediction.tags[task]):
                if target.kind == "morph":
                    token.set_morph(None if label == "_" else label)
                elif target.kind == "extension":
                    token._.set(target.key, label)
                else:
                    setattr(token, f"{target.kind}_", label)
        if self.scores:
            for n, token in enumerate(words):
                token._.set(SCORES_EXTENSION, {task: values[n] for task, values in prediction.scores.items()})

    def spans(self, doc: Doc, words: Sequence[Token], prediction: Prediction) -> dict[str, list[Span]]:
        """One prediction's spans as spaCy Spans of ``doc`` (labels renamed by the label map), per span task that has a target."""
        rename = self.label_map
        return {task: [Span(doc, words[s.start].i, words[s.end - 1].i + 1, label=rename.get(s.label, s.label)) for s in spans]
                for task, spans in prediction.spans.items() if task in self.targets}

    def write_spans(self, doc: Doc, found: Mapping[str, list[Span]], overwrite_ents: bool = True) -> None:
        """A Doc's spans, gathered over its sentences, into ``doc.ents`` and ``doc.spans``. Without
        ``overwrite_ents``, entities already there are kept and new ones go where there is none, as
        spaCy's ``ner`` does; every other token is outside an entity."""
        for task, target in self.targets.items():
            spans = list(found.get(task, []))
            if target.kind == "spans":
                doc.spans[target.key] = spans
            elif target.kind == "ents" and overwrite_ents:
                doc.ents = spans
            elif target.kind == "ents":
                existing = list(doc.ents)
                taken = {i for ent in existing for i in range(ent.start, ent.end)}
                doc.ents = existing + [span for span in spans if not taken.intersection(range(span.start, span.end))]

    def write_whitespace(self, spaces: Sequence[Token]) -> None:
        kinds = {target.kind for target in self.targets.values()}
        for token in spaces:
            for kind, label in WHITESPACE_LABELS.items():
                if kind in kinds:
                    setattr(token, f"{kind}_", label)


def _check(spec: TaskSpec, target: Target) -> None:
    if (target.kind in ("ents", "spans")) != spec.is_span:
        kind = "a span task" if spec.is_span else "a per-token task"
        raise ConfigError(f"attrs.{spec.name}", f"{spec.name!r} is {kind}; it cannot write to {target.kind}")
    if target.kind == "pos":
        invalid = [label for label in spec.labels if label not in UPOS_IDS]
        if invalid:
            raise ConfigError(f"attrs.{spec.name}", f"token.pos takes Universal POS tags only; {spec.name!r} has {invalid[:5]} (write it to tag instead)")
