"""Torch-free types that cross module boundaries: sentences in, predictions out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

Precision = Literal["fp32", "int8", "int8-all"]  # how a loaded model's encoder runs (RunOptions; tagger.nn.onnx_encoder)
PRECISIONS: tuple[str, ...] = get_args(Precision)
QUANTIZED = ("int8", "int8-all")  # the precisions that run it in ONNX Runtime
PRECISION_HELP = ("fp32, or int8: the LSTM encoder in ONNX Runtime with int8 weights on layers 2+ (CPU, about x1.5 faster; "
                  "pip install 'birnn-tagger[onnx]'); int8-all: every layer (faster, less accurate).")
NO_LABEL = ""  # a token without a label of that task: not trained on, not scored (CoNLL-U's "_" in UPOS/XPOS)


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a label, else None: the one rule every reader applies. A label is one
    word: a stray space or tab (``NOUN `` beside ``NOUN``) would make a label of its own."""
    if any(c.isspace() for c in label):
        return f"label {label!r} has whitespace in it (a stray space or tab?): a label is one word"
    return None


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be a token, else None: a token holds some text that is not only whitespace,
    and no tab or line break (no output format could write it back as one token)."""
    if not token.strip():
        return f"token {token!r} is empty or only whitespace"
    if "\t" in token or token.splitlines() != [token]:
        return f"token {token!r} holds a tab or a line break"
    return None


@dataclass
class Sentence:
    """Tokens with zero or more label layers (task name -> one label per token).

    ``text`` and ``offsets`` are set when the tokens come from raw text, so that
    labels can be mapped back to characters. ``meta`` keeps where the sentence came
    from (``source``, ``line``) and anything the file said about it (``sent_id``).
    ``features`` are extra per-token strings that a model with ``embeddings.features`` embeds
    beside each token (the segmenter's character bigrams and lexicon matches).
    """

    tokens: list[str]
    tags: dict[str, list[str]] = field(default_factory=dict)
    text: str | None = None
    offsets: list[tuple[int, int]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    features: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tokens)

    def problem(self) -> str | None:
        """What makes this sentence unfit to read (see :func:`token_problem`, :func:`label_problem`), else None."""
        for i, token in enumerate(self.tokens):
            if (problem := token_problem(token)) is not None:
                return f"token {i + 1}: {problem}"
        for task, labels in self.tags.items():
            for i, label in enumerate(labels):
                if (problem := label_problem(label)) is not None:
                    return f"{task} of token {i + 1} ({self.tokens[i]!r}): {problem}"
        return None

    def unlabelled(self) -> Sentence:
        """The same input without its labels (and offsets, which the tokenizer sets again): what a model reads."""
        return Sentence(self.tokens, {}, self.text, None, self.meta, self.features)

    def piece(self, start: int, end: int) -> Sentence:
        """Tokens ``start:end`` with their labels and features, as a sentence of their own."""
        def cut(layers: dict[str, list[str]]) -> dict[str, list[str]]:
            return {name: values[start:end] for name, values in layers.items()}

        return Sentence(self.tokens[start:end], cut(self.tags), features=cut(self.features))


@dataclass(frozen=True)
class BadRecord:
    """A record a lenient reader could not read (or that holds nothing to label): where it is and why.
    ``line`` is None for a record that is a whole file."""

    source: str
    line: int | None
    reason: str


@dataclass(frozen=True)
class Span:
    """A labelled run of tokens, ``end`` exclusive; character offsets when known."""

    start: int
    end: int
    label: str
    start_char: int | None = None
    end_char: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.start_char is not None:
            out["start_char"] = self.start_char
            out["end_char"] = self.end_char
        return out


@dataclass
class Prediction:
    """What a model says about one sentence: labels per task, spans per span task."""

    tokens: list[str]
    tags: dict[str, list[str]]
    spans: dict[str, list[Span]] = field(default_factory=dict)
    text: str | None = None
    offsets: list[tuple[int, int]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)  # task -> probability of each token's label

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tokens": self.tokens}
        if self.text is not None:
            out["text"] = self.text
        if self.offsets is not None:
            out["offsets"] = [list(pair) for pair in self.offsets]
        out["tags"] = self.tags
        out["spans"] = {task: [s.to_dict() for s in spans] for task, spans in self.spans.items()}
        if self.scores:
            out["scores"] = self.scores
        return out

    def to_sentence(self) -> Sentence:
        return Sentence(list(self.tokens), dict(self.tags), self.text, self.offsets, dict(self.meta))

    def select(self, tasks: Collection[str] | None) -> Prediction:
        """This prediction with only ``tasks``' labels, spans and scores (all of them for None)."""
        if tasks is None:
            return self
        return replace(self, tags={t: v for t, v in self.tags.items() if t in tasks}, spans={t: v for t, v in self.spans.items() if t in tasks},
                       scores={t: v for t, v in self.scores.items() if t in tasks})


@dataclass
class TaskScores:
    """Scores of one task: headline metrics plus per-label rows (precision/recall/f1/support)."""

    kind: str  # "accuracy" or "spans"
    metrics: dict[str, float]
    per_label: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def headline(self) -> float:
        """The task's one number: F1 for span tasks, else accuracy (what picks the best epoch, and tables show first)."""
        return self.metrics["f1"] if self.kind == "spans" else self.metrics["accuracy"]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.metrics)
        if self.kind == "spans":
            out["per_label"] = self.per_label
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskScores:
        """Back from :meth:`to_dict` (as metrics.jsonl and meta.json keep scores)."""
        metrics = {key: value for key, value in data.items() if key != "per_label"}
        return cls("spans" if "f1" in data else "accuracy", metrics, dict(data.get("per_label", {})))


Scores = dict[str, TaskScores]


@dataclass
class Blank:
    """One blanked position of a sentence and the words the model puts there, most likely first."""

    position: int  # token index
    candidates: list[tuple[str, float]]  # (word, probability)

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "candidates": [{"word": w, "probability": p} for w, p in self.candidates]}


@dataclass
class FilledSentence:
    tokens: list[str]  # the sentence's tokens, blanks as the mask token
    blanks: list[Blank]

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "blanks": [b.to_dict() for b in self.blanks]}
