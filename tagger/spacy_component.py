"""The spaCy pipeline component ``birnn_tagger``: a trained model labelling the tokens of spaCy Docs.

Registered through the ``spacy_factories`` entry point, so ``nlp.add_pipe("birnn_tagger", ...)``
works after ``pip install`` without importing this package. spaCy imports every entry-point
factory whenever it creates a pipeline, so this module imports only spaCy at the top; torch
and the model code load when a model does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

import srsly
from spacy.language import Language
from spacy.parts_of_speech import IDS as UPOS_IDS
from spacy.tokens import Doc, Span, Token
from spacy.util import minibatch

from tagger.errors import ConfigError, TaggerError
from tagger.schemes import split_tag
from tagger.tokenize import LONG_SENTENCE
from tagger.types import Sentence

if TYPE_CHECKING:
    from tagger.predict import Tagger
    from tagger.types import Prediction

FACTORY = "birnn_tagger"
SCORES_EXTENSION = "birnn_scores"
TOKEN_ATTRIBUTES = ("pos", "tag", "morph", "lemma")
# What a whitespace token gets, as spaCy's own trained pipelines do.
WHITESPACE_LABELS = {"pos": "SPACE", "tag": "_SP"}
ASSIGNS = ["token.pos", "token.tag", "token.morph", "token.lemma", "doc.ents", "doc.spans"]


@Language.factory(
    FACTORY,
    assigns=ASSIGNS,
    default_config={"model": None, "attrs": {}, "overwrite_ents": False, "scores": False, "batch_size": 1000, "device": "cpu",
                    "precision": "fp32"},
)
def make_birnn_tagger(
    nlp: Language,
    name: str,
    model: Optional[str],
    attrs: Dict[str, str],
    overwrite_ents: bool,
    scores: bool,
    batch_size: int,
    device: str,
    precision: str,
) -> BiRNNTagger:
    """Create the component. ``model`` is a model directory written by ``tagger train``.

    ``attrs`` maps a task to where its labels go: ``pos``, ``tag``, ``morph``, ``lemma``,
    ``ents``, ``spans.KEY`` (``doc.spans[KEY]``), ``_.NAME`` (``token._.NAME``), or ``""``
    (not written). Tasks it leaves out get the defaults of :func:`default_targets`. ``precision``
    ``int8`` runs the encoder in ONNX Runtime with int8 weights (see ``Tagger.load``).
    """
    return BiRNNTagger(nlp.vocab, name, model, attrs, overwrite_ents, scores, batch_size, device, precision)


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


def default_targets(tagger: Tagger) -> dict[str, Target]:
    """UPOS-like task -> ``token.pos``, XPOS-like -> ``token.tag``, first span task -> ``doc.ents``,
    other span tasks -> ``doc.spans[task]``, anything else -> ``token._.<task>``."""
    targets: dict[str, Target] = {}
    for task, config in tagger.config.tasks.items():
        taken = set(targets.values())
        if config.scheme:
            target = Target("ents") if Target("ents") not in taken else Target("spans", task)
        elif task.lower() in ("upos", "pos") or (task.lower() != "xpos" and _all_upos(tagger.vocab.labels[task].items)):
            target = Target("pos")
        elif task.lower() in ("xpos", "tag"):
            target = Target("tag")
        elif task.lower() in ("feats", "morph"):
            target = Target("morph")
        else:
            target = Target("extension", task)
        targets[task] = target if target not in taken else Target("extension", task)
    return targets


def task_labels(tagger: Tagger, task: str) -> list[str]:
    """A task's labels; for a span task its span types (``PER``, not ``B-PER``)."""
    labels = tagger.vocab.labels[task].items
    if not tagger.config.tasks[task].scheme:
        return list(labels)
    return sorted({split_tag(label)[1] for label in labels} - {""})


def _all_upos(labels: list[str]) -> bool:
    return bool(labels) and all(label in UPOS_IDS and label not in ("", "SPACE") for label in labels)


class BiRNNTagger:
    """Labels Doc tokens with a trained tagger; serializes the model inside the pipeline.

    The model reads the Doc's own tokens, whatever tokenizer made them: every token that is
    not whitespace gets a label, whitespace tokens get ``SPACE``/``_SP`` and never start or
    end an entity. A Doc with sentence boundaries is tagged sentence by sentence; one without
    is one sequence, unless it is longer than LONG_SENTENCE tokens: then it is tagged in the
    pieces that spaCy's rule-based sentencizer would make.
    """

    def __init__(
        self,
        vocab: Any,
        name: str = FACTORY,
        model: str | Path | None = None,
        attrs: dict[str, str] | None = None,
        overwrite_ents: bool = False,
        scores: bool = False,
        batch_size: int = 1000,
        device: str = "cpu",
        precision: str = "fp32",
    ) -> None:
        self.vocab = vocab
        self.name = name
        self.model_path = str(model) if model else None
        self.attrs = dict(attrs or {})
        self.overwrite_ents = overwrite_ents
        self.scores = scores
        self.batch_size = batch_size
        self.device = device
        self.precision = precision
        self._tagger: Tagger | None = None
        self._targets: dict[str, Target] = {}
        self._process = os.getpid()
        # When spaCy loads a saved pipeline it calls the factory with the config's model path,
        # which may not exist on this machine, then ``from_disk`` with the model saved inside.
        # So a missing folder is an error only on first use; an existing one loads now, which
        # also registers the token extensions before any worker process starts.
        if self.model_path and Path(self.model_path).is_dir():
            self.tagger  # noqa: B018

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            if not self.model_path:
                raise TaggerError(
                    f"spaCy component {self.name!r} has no model: add it with config={{'model': 'MODEL_DIR'}} "
                    "or load a pipeline saved with one"
                )
            from tagger.predict import Tagger

            self.set_tagger(Tagger.load(self.model_path, self.device, self.precision))
        return self._tagger  # type: ignore[return-value]

    def set_tagger(self, tagger: Tagger) -> None:
        """Use ``tagger`` and work out, and check, where each task's labels go."""
        for task in self.attrs:
            if task not in tagger.config.tasks:
                raise ConfigError(f"attrs.{task}", f"the model has no task {task!r}; its tasks: {', '.join(tagger.tasks)}")
        targets = default_targets(tagger)
        for task, value in self.attrs.items():
            target = Target.parse(value, task)
            if target is None:
                targets.pop(task)
            else:
                targets[task] = target
        for task, target in targets.items():
            self._check_target(tagger, task, target)
        spelled = [target.spelled for target in targets.values()]
        if len(set(spelled)) < len(spelled):
            raise ConfigError("attrs", f"two tasks write to the same place: {dict(zip(targets, spelled))}")
        for target in targets.values():
            if target.kind == "extension" and not Token.has_extension(target.key):
                Token.set_extension(target.key, default=None)
        if self.scores and not Token.has_extension(SCORES_EXTENSION):
            Token.set_extension(SCORES_EXTENSION, default=None)
        self._tagger, self._targets = tagger, targets

    @staticmethod
    def _check_target(tagger: Tagger, task: str, target: Target) -> None:
        is_span_task = bool(tagger.config.tasks[task].scheme)
        if (target.kind in ("ents", "spans")) != is_span_task:
            kind = "a span task" if is_span_task else "a per-token task"
            raise ConfigError(f"attrs.{task}", f"{task!r} is {kind}; it cannot write to {target.kind}")
        if target.kind == "pos":
            invalid = [label for label in tagger.vocab.labels[task].items if label not in UPOS_IDS]
            if invalid:
                raise ConfigError(f"attrs.{task}", f"token.pos takes Universal POS tags only; {task!r} has {invalid[:5]} (write it to tag instead)")

    @property
    def targets(self) -> dict[str, str]:
        """Task -> where its labels go, as ``attrs`` would spell it."""
        self.tagger  # noqa: B018 - loads the model, which decides the targets
        return {task: target.spelled for task, target in self._targets.items()}

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of every task, entity types for span tasks; empty until a model is loaded."""
        if self._tagger is None:
            return ()
        return tuple(dict.fromkeys(label for task in self._tagger.tasks for label in task_labels(self._tagger, task)))

    def __call__(self, doc: Doc) -> Doc:
        self._label([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Label Docs in batches: the sentences of ``batch_size`` Docs go through the encoder together."""
        for docs in minibatch(stream, size=batch_size or self.batch_size):
            self._label(docs)
            yield from docs

    def _label(self, docs: list[Doc]) -> None:
        tagger = self.tagger
        self._threads_for_worker()
        units: list[tuple[Doc, list[Token]]] = []  # a sentence (or a Doc): its non-space tokens
        spaces: list[Token] = []
        for doc in docs:
            for span in doc.sents if doc.has_annotation("SENT_START") else (doc,):
                words: list[Token] = []
                for token in span:
                    (spaces if token.is_space else words).append(token)
                units.append((doc, words))
        sentences = [self._sentence(doc, words) for doc, words in units]
        predictions = tagger.label_sentences(sentences, scores=self.scores)
        found: dict[int, dict[str, list[Span]]] = {id(doc): {} for doc in docs}
        for (doc, words), prediction in zip(units, predictions):
            self._set_token_labels(words, prediction)
            for task, spans in prediction.spans.items():
                if task in self._targets:
                    found[id(doc)].setdefault(task, []).extend(
                        Span(doc, words[s.start].i, words[s.end - 1].i + 1, label=s.label) for s in spans
                    )
        self._set_whitespace_labels(spaces)
        for doc in docs:
            for task, target in self._targets.items():
                spans = found[id(doc)].get(task, [])
                if target.kind == "ents":
                    self._set_ents(doc, spans)
                elif target.kind == "spans":
                    doc.spans[target.key] = spans

    @staticmethod
    def _sentence(doc: Doc, words: list[Token]) -> Sentence:
        """The model's input; a long Doc without sentence boundaries gets the starts spaCy's
        rule-based sentencizer would set (the Doc itself is left as it is)."""
        sentence = Sentence([token.text for token in words])
        if len(words) > LONG_SENTENCE and not doc.has_annotation("SENT_START"):
            from spacy.pipeline import Sentencizer

            starts = Sentencizer().predict([doc])[0]
            sentence.meta["sentence_starts"] = [n for n, token in enumerate(words) if n and starts[token.i]]
        return sentence

    def _set_token_labels(self, words: list[Token], prediction: Prediction) -> None:
        for task, target in self._targets.items():
            if target.kind in ("ents", "spans"):
                continue
            labels = prediction.tags[task]
            if target.kind == "pos":
                for token, label in zip(words, labels):
                    token.pos_ = label
            elif target.kind == "tag":
                for token, label in zip(words, labels):
                    token.tag_ = label
            elif target.kind == "morph":
                for token, label in zip(words, labels):
                    token.set_morph(None if label == "_" else label)
            elif target.kind == "lemma":
                for token, label in zip(words, labels):
                    token.lemma_ = label
            else:
                for token, label in zip(words, labels):
                    token._.set(target.key, label)
        if self.scores:
            for n, token in enumerate(words):
                token._.set(SCORES_EXTENSION, {task: values[n] for task, values in prediction.scores.items()})

    def _set_whitespace_labels(self, spaces: list[Token]) -> None:
        kinds = {target.kind for target in self._targets.values()}
        for token in spaces:
            if "pos" in kinds:
                token.pos_ = WHITESPACE_LABELS["pos"]
            if "tag" in kinds:
                token.tag_ = WHITESPACE_LABELS["tag"]

    def _set_ents(self, doc: Doc, spans: list[Span]) -> None:
        """Entities as spaCy's ``ner`` sets them: existing ones are kept unless ``overwrite_ents``;
        new ones go where no existing entity is; every other token is outside an entity."""
        if self.overwrite_ents:
            doc.ents = spans
            return
        existing = list(doc.ents)
        taken = {i for ent in existing for i in range(ent.start, ent.end)}
        added = [span for span in spans if not taken.intersection(range(span.start, span.end))]
        doc.ents = existing + added

    def score(self, examples: Iterable[Any], **kwargs: Any) -> dict[str, Any]:
        """spaCy's scores for what this component writes (``nlp.evaluate``, ``spacy evaluate``)."""
        from spacy.scorer import Scorer, get_ner_prf

        examples = list(examples)
        scores: dict[str, Any] = {}
        for target in self._targets.values():
            if target.kind in ("pos", "tag", "lemma"):
                scores.update(Scorer.score_token_attr(examples, target.kind, **kwargs))
            elif target.kind == "morph":
                scores.update(Scorer.score_token_attr(examples, "morph", **kwargs))
            elif target.kind == "ents":
                scores.update(get_ner_prf(examples))
        return scores

    def _threads_for_worker(self) -> None:
        """In a worker process (``nlp.pipe(n_process=N)``) use one torch thread, so N workers
        share the cores instead of each starting a thread per core."""
        if os.getpid() != self._process:
            import torch

            torch.set_num_threads(1)
            self._process = os.getpid()

    # Serialization: the model's files (JSON and safetensors) travel inside the pipeline.

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        from tagger.serialize import write_files

        write_files(path, self._model_files())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> BiRNNTagger:
        from tagger.predict import Tagger

        self.set_tagger(Tagger.load(path, self.device, self.precision))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        return srsly.msgpack_dumps(self._model_files())

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> BiRNNTagger:
        from tagger.predict import Tagger, warn_if_unfinished
        from tagger.serialize import model_from_files

        try:
            files = srsly.msgpack_loads(data)
        except Exception as error:  # msgpack raises several unrelated types on bad input
            raise TaggerError(f"spaCy component {self.name!r}: bytes are not a serialized model ({error})") from None
        if not isinstance(files, dict):
            raise TaggerError(f"spaCy component {self.name!r}: bytes are not a serialized model")
        tagger = Tagger(*model_from_files(files, f"spaCy component {self.name!r}", self.device))
        warn_if_unfinished(tagger, f"spaCy component {self.name!r}")
        tagger.set_precision(self.precision, f"spaCy component {self.name!r}")
        self.set_tagger(tagger)
        return self

    def _model_files(self) -> dict[str, bytes]:
        from tagger.serialize import model_files

        tagger = self.tagger
        return model_files(tagger.model, tagger.vocab, tagger.config, tagger.meta)
