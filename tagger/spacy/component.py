"""The spaCy pipeline component ``birnn_tagger``: a trained model labelling the tokens of spaCy Docs.

Registered through the ``spacy_factories`` entry point, so ``nlp.add_pipe("birnn_tagger", ...)``
works after ``pip install`` without importing this package. spaCy imports every entry-point
factory whenever it creates a pipeline, so this module imports only spaCy at the top; torch
and the model code load when a model does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional

import srsly
from spacy.language import Language
from spacy.tokens import Doc, Span, Token
from spacy.util import minibatch

from tagger.core.errors import ConfigError, TaggerError
from tagger.core.runtime import RunOptions
from tagger.core.tokenize import LONG_SENTENCE, sentence_starts
from tagger.core.types import Sentence
from tagger.data.doc_targets import DocTargets, check_label_names
from tagger.model.segmenter import lexicon_key

if TYPE_CHECKING:
    from tagger.model.predict import Tagger

FACTORY = "birnn_tagger"
RUN_KEYS = ("device", "precision", "threads")  # the RunOptions fields in the component's config (its batch_size is spaCy's: Docs)
ASSIGNS = ["token.pos", "token.tag", "token.morph", "token.lemma", "doc.ents", "doc.spans"]


@Language.factory(
    FACTORY,
    assigns=ASSIGNS,
    default_config={"model": None, "attrs": {}, "label_map": {}, "overwrite_ents": False, "scores": False, "batch_size": 1000,
                    **{item.name: item.default for item in fields(RunOptions) if item.name in RUN_KEYS}},
)
def make_birnn_tagger(
    nlp: Language,
    name: str,
    model: Optional[str],
    attrs: Dict[str, str],
    label_map: Dict[str, str],
    overwrite_ents: bool,
    scores: bool,
    batch_size: int,
    device: str,
    precision: str,
    threads: int,
) -> BiRNNTagger:
    """Create the component. ``model`` is a model directory written by ``tagger train``: loaded now, so a
    wrong path fails at ``add_pipe``, except while spaCy builds a saved pipeline from its config (see
    :func:`building_from_config`).

    ``attrs`` maps a task to where its labels go: ``pos``, ``tag``, ``morph``, ``lemma``,
    ``ents``, ``spans.KEY`` (``doc.spans[KEY]``), ``_.NAME`` (``token._.NAME``), or ``""``
    (not written). Tasks it leaves out get the defaults of :func:`tagger.data.doc_targets.default_targets`.
    ``label_map`` renames entity types (``{"PER": "PERSON", "LOC": "GPE"}``) in ``doc.ents``, ``doc.spans``
    and ``labels``. ``device``, ``precision`` and ``threads`` are how the model runs (RunOptions, checked
    here): ``int8`` runs the encoder in ONNX Runtime with int8 weights; ``threads`` 0 is one per core that
    is idle or ours, looked at again as the machine's load changes (:class:`tagger.core.runtime.ThreadPolicy`).
    ``batch_size`` is spaCy's: Docs per batch of ``nlp.pipe``.
    """
    run = RunOptions(device=device, precision=precision, threads=threads)  # a bad one: ConfigError at add_pipe
    return BiRNNTagger(nlp.vocab, name, model, attrs, overwrite_ents, scores, batch_size, run, label_map=label_map,
                       defer_load=building_from_config())


def building_from_config() -> bool:
    """Whether spaCy's ``Language.from_config`` is making the component: ``spacy.load`` of a saved
    pipeline (which calls ``from_disk`` next, with the model saved inside it), ``spacy train`` or
    ``spacy evaluate`` on a config. The config's ``model`` path may not exist on this machine then, and
    a model that does exist there would be read only to be replaced, so the model is read on
    ``from_disk``/``from_bytes``, ``initialize`` or first use instead. spaCy passes nothing that tells
    these calls from a user's ``add_pipe``; the call stack does."""
    code = Language.from_config.__func__.__code__  # type: ignore[attr-defined]
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


class BiRNNTagger:
    """Labels Doc tokens with a trained tagger; serializes the model inside the pipeline.

    The model reads the Doc's own tokens, whatever tokenizer made them: every token that is
    not whitespace gets a label, whitespace tokens get ``SPACE``/``_SP`` and never start or
    end an entity. A Doc with sentence boundaries is tagged sentence by sentence; one without
    is one sequence, unless it is longer than LONG_SENTENCE tokens: then it is tagged in the
    pieces that spaCy's rule-based sentencizer would make.

    It cannot be trained through spaCy (``update`` says how to train and freeze it).
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
        run: RunOptions | None = None,
        *,
        label_map: dict[str, str] | None = None,
        defer_load: bool = False,
    ) -> None:
        self.vocab = vocab
        self.name = name
        self.model_path = str(model) if model else None
        self.attrs = dict(attrs or {})
        self.label_map = check_label_names(label_map or {})  # and against the model's labels when it loads
        self.overwrite_ents = overwrite_ents
        self.scores = scores
        self.batch_size = batch_size
        self.run = run or RunOptions()  # how the model runs: device, precision, threads
        self._tagger: Tagger | None = None
        self._targets: DocTargets | None = None
        self._process = os.getpid()
        # A model named here loads now: a wrong path or a bad model fails at add_pipe, and the token
        # extensions are registered before any worker process starts. Not when spaCy builds a saved
        # pipeline from its config (defer_load): the config's path may not exist on this machine, and
        # from_disk follows with the model saved inside the pipeline.
        if self.model_path and not defer_load:
            if not Path(self.model_path).is_dir():
                raise ConfigError("model", f"{self.model_path!r}: no such model directory (give a folder written by `tagger train`)",
                                  f"spaCy component {self.name!r}")
            self.tagger  # noqa: B018

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            if not self.model_path:
                raise TaggerError(
                    f"spaCy component {self.name!r} has no model: add it with config={{'model': 'MODEL_DIR'}} "
                    "or load a pipeline saved with one"
                )
            from tagger.model.predict import Tagger

            self.set_tagger(Tagger.load(self.model_path, self.run))
        return self._tagger  # type: ignore[return-value]

    def set_tagger(self, tagger: Tagger) -> None:
        """Use ``tagger`` and work out, and check, where each task's labels go and the label map."""
        tagger.require_tasks()
        self._targets = DocTargets(tagger.task_specs, self.attrs, self.scores, self.label_map)
        self._tagger = tagger

    @property
    def targets(self) -> dict[str, str]:
        """Task -> where its labels go, as ``attrs`` would spell it."""
        self.tagger  # noqa: B018 - loads the model, which decides the targets
        return self._targets.spelled  # type: ignore[union-attr]

    @property
    def labels(self) -> tuple[str, ...]:
        """The labels of every task, entity types (renamed by ``label_map``) for span tasks; empty until a model is loaded."""
        if self._tagger is None:
            return ()
        rename = self.label_map
        return tuple(dict.fromkeys(rename.get(label, label) if spec.is_span else label
                                   for spec in self._tagger.task_specs.values() for label in spec.span_labels))

    def __call__(self, doc: Doc) -> Doc:
        self._label([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Label Docs in batches: the sentences of ``batch_size`` Docs go through the encoder together."""
        for docs in minibatch(stream, size=batch_size or self.batch_size):
            self._label(docs)
            yield from docs

    def _label(self, docs: list[Doc]) -> None:
        tagger, targets = self.tagger, self._targets
        assert targets is not None
        units: list[tuple[Doc, list[Token]]] = []  # a sentence (or a Doc): its non-space tokens
        spaces: list[Token] = []
        for doc in docs:
            for span in doc.sents if doc.has_annotation("SENT_START") else (doc,):
                words: list[Token] = []
                for token in span:
                    (spaces if token.is_space else words).append(token)
                units.append((doc, words))
        sentences = [self._sentence(doc, words) for doc, words in units]
        self._threads_for_worker(tagger)
        predictions = tagger.label_sentences(sentences, scores=self.scores)
        found: dict[int, dict[str, list[Span]]] = {id(doc): {} for doc in docs}
        for (doc, words), prediction in zip(units, predictions):
            targets.write_tokens(words, prediction)
            for task, spans in targets.spans(doc, words, prediction).items():
                found[id(doc)].setdefault(task, []).extend(spans)
        targets.write_whitespace(spaces)
        for doc in docs:
            targets.write_spans(doc, found[id(doc)], self.overwrite_ents)

    @staticmethod
    def _sentence(doc: Doc, words: list[Token]) -> Sentence:
        """The model's input; a long Doc without sentence boundaries gets the starts spaCy's
        rule-based sentencizer would set (the Doc itself is left as it is)."""
        sentence = Sentence([lexicon_key(token.text) for token in words])  # a word that holds spaces (vi) as the model knows it
        if len(words) > LONG_SENTENCE and not doc.has_annotation("SENT_START"):
            sentence.meta["sentence_starts"] = sentence_starts(doc, words)
        return sentence

    def score(self, examples: Iterable[Any], **kwargs: Any) -> dict[str, Any]:
        """spaCy's scores for what this component writes (``nlp.evaluate``, ``spacy evaluate``)."""
        from spacy.scorer import Scorer, get_ner_prf

        examples = list(examples)
        scores: dict[str, Any] = {}
        for target in self._targets.targets.values() if self._targets is not None else ():
            if target.kind in ("pos", "tag", "lemma"):
                scores.update(Scorer.score_token_attr(examples, target.kind, **kwargs))
            elif target.kind == "morph":
                scores.update(Scorer.score_token_attr(examples, "morph", **kwargs))
            elif target.kind == "ents":
                scores.update(get_ner_prf(examples))
        return scores

    def _threads_for_worker(self, tagger: Tagger) -> None:
        """In a worker process (``nlp.pipe(n_process=N)``) one torch thread unless ``threads`` names a number,
        so that N workers share the cores instead of each starting a thread per core."""
        if os.getpid() != self._process:
            self._process = os.getpid()
            if not self.run.threads:
                tagger.set_run_options(replace(tagger.run, threads=1))

    # Training: the model is trained by ``tagger train``, not through spaCy.

    def initialize(self, get_examples: Any = None, *, nlp: Language | None = None) -> None:
        """``nlp.initialize()``: reads the model now if it is not yet (an error now for a missing one); nothing to train."""
        self.tagger  # noqa: B018

    def update(self, examples: Iterable[Any], *, drop: float = 0.0, sgd: Any = None, losses: dict[str, float] | None = None,
               **kwargs: Any) -> dict[str, float]:
        """Refuses: ``nlp.update`` would otherwise leave the model as it is without a word."""
        name = self.name
        raise TaggerError(
            f"spaCy component {name!r} cannot be trained through spaCy (nlp.update, spacy train): train its model with "
            f"`tagger train CONFIG -o MODEL_DIR` and add it with config={{'model': 'MODEL_DIR'}}. To train other components "
            f"beside it, freeze it: frozen_components = [\"{name}\"] in the [training] block of a spacy train config, or "
            f"nlp.update(examples, exclude=[\"{name}\"]), or nlp.select_pipes(disable=[\"{name}\"])"
        )

    # Serialization: the model's files (JSON and safetensors) travel inside the pipeline.

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        from tagger.model.serialize import write_files

        write_files(path, self._model_files())

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> BiRNNTagger:
        from tagger.model.predict import Tagger

        self.set_tagger(Tagger.load(path, self.run))
        return self

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        return srsly.msgpack_dumps(self._model_files())

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> BiRNNTagger:
        from tagger.model.predict import Tagger

        owner = f"spaCy component {self.name!r}"
        self.set_tagger(Tagger.from_files(unpack_files(data, owner, "model"), owner, self.run))
        return self

    def _model_files(self) -> dict[str, bytes]:
        return self.tagger.files()


def unpack_files(data: bytes, owner: str, what: str) -> dict[str, bytes]:
    """A model's files from the bytes ``to_bytes`` made of them; TaggerError naming ``owner`` otherwise."""
    try:
        files = srsly.msgpack_loads(data)
    except Exception as error:  # msgpack raises several unrelated types on bad input
        raise TaggerError(f"{owner}: bytes are not a serialized {what} ({error})") from None
    if not isinstance(files, dict) or not all(isinstance(name, str) and isinstance(data, bytes) for name, data in files.items()):
        raise TaggerError(f"{owner}: bytes are not a serialized {what} (file names and their bytes)")
    return files
