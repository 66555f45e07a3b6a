"""What a config's corpora hold, read exactly as ``tagger train`` reads them, and what in them would
hurt a training: the analysis behind ``tagger debug-data`` (the equivalent of ``spacy debug data``).

:func:`debug_data` prints nothing: it returns a :class:`DataReport`, whose ``warnings`` are every
finding worth a look, collected in one place, and whose ``errors`` are what would stop
``tagger train`` (a stray I- tag of a ``strict`` task, a task without training labels, vectors that
cannot be read); the analysis goes on past those, reading such tags leniently.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.analysis.evaluation import unseen_label_counts, unseen_labels
from tagger.core.config import SourceConfig, TaggerConfig, TaskConfig
from tagger.core.errors import ConfigError, DataFormatError, TaggerError
from tagger.core.schemes import detect_scheme, split_tag, tags_to_spans
from tagger.core.tasks import TaskSpec, task_specs
from tagger.core.tokenize import LONG_SENTENCE
from tagger.core.types import NO_LABEL, Sentence
from tagger.core.vocab import UNK, word_key
from tagger.data import load_sentences

if TYPE_CHECKING:
    from tagger.core.vocab import Vocab
    from tagger.training.transfer import VectorRows

SPLITS = ("train", "dev", "test")
LOW_VECTOR_COVERAGE = 0.8  # a warning when the vectors reach fewer training tokens than this
MIN_DUPLICATE_TOKENS = 5  # shorter sentences ("Thanks .", a name) repeat in any corpus: shared ones of this length are warned of
EXAMPLES = 5  # OOV forms and shared sentences kept as examples


@dataclass
class LengthStats:
    """Sentence lengths in tokens; ``long``: sentences longer than ``tokenize.LONG_SENTENCE``."""

    min: int
    median: float
    p95: int
    max: int
    long: int

    @classmethod
    def of(cls, lengths: Sequence[int]) -> LengthStats | None:
        if not lengths:
            return None
        ordered = sorted(lengths)
        p95 = ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]  # nearest rank
        return cls(ordered[0], statistics.median(ordered), p95, ordered[-1], sum(n > LONG_SENTENCE for n in ordered))


@dataclass
class TaskCounts:
    """One task in one split. ``labels``: a token task's tags, a span task's spans per entity type;
    ``tags``: a span task's tags, in the task's scheme."""

    sentences: int  # sentences with labels of this task
    tokens: int  # their labelled tokens
    labels: dict[str, int]
    tags: dict[str, int] = field(default_factory=dict)


@dataclass
class WordStats:
    """A split's tokens against the vocabulary as training builds it. ``oov``: mapped to ``<unk>``
    (in train: left out by min_freq or max_words); ``new`` (dev and test): no training token has
    the word's key; ``vector``: the word's row starts from a pretrained vector."""

    tokens: int
    forms: int  # distinct surface forms
    oov_tokens: int
    oov_forms: int
    oov_examples: list[str]  # the most frequent OOV forms
    new_tokens: int = 0
    new_forms: int = 0
    new_forms_with_vector: int = 0
    vector_tokens: int = 0
    vector_forms: int = 0


@dataclass
class SplitReport:
    sources: list[str]
    sentences: int  # as training uses them (train: data.max_train_sentences, labelled ones only)
    tokens: int
    skipped: int  # train: sentences read but left out by training (no tokens or no labels)
    lengths: LengthStats | None
    words: WordStats
    tasks: dict[str, TaskCounts]
    unseen: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> label no training sentence has -> count


@dataclass
class SchemeCheck:
    """One span task in one source: the scheme its tags are in, and the stray I- (or E-) tags,
    continuing no span, that lenient reading turns into span starts and ``strict`` rejects."""

    split: str
    source: str
    task: str
    detected: str
    scheme: str  # the task's
    strict: bool
    sentences: int
    stray: int


@dataclass
class VectorCoverage:
    """What training reports of its pretrained vectors (``transfer.coverage``)."""

    source: str
    dim: int
    vectors: int  # in the source
    words_with_vectors: int  # vocabulary words whose row starts from one
    training_tokens: float  # shares of training tokens and of their distinct forms reached
    training_types: float
    types: int


@dataclass
class Overlap:
    """Sentences of ``second`` whose tokens are those of a sentence of ``first``; for train with
    itself, the sentences that repeat an earlier one."""

    first: str
    second: str
    sentences: int
    long: int  # of those, sentences of MIN_DUPLICATE_TOKENS tokens or more
    examples: list[str]  # the longest


@dataclass
class VocabularyStats:
    words: int
    lowercase: bool
    min_freq: int
    max_words: int
    max_vectors: int  # 0 without vectors


@dataclass
class DataReport:
    config: str
    tasks: dict[str, str]  # task -> "token", or its span scheme
    splits: dict[str, SplitReport]  # the configured splits
    schemes: list[SchemeCheck]
    vocabulary: VocabularyStats
    vectors: VectorCoverage | None
    overlaps: list[Overlap]
    long_sentence: int = LONG_SENTENCE
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # what would stop tagger train

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Findings:
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def debug_data(config: TaggerConfig, name: str = "") -> DataReport:
    """Read the config's train, dev and test data and vocabulary as training would, and report on them.

    Raises what training raises for a corpus that cannot be read or a config that cannot work
    (DataFormatError, ConfigError); what training would refuse later is in the report's ``errors``.
    """
    findings = _Findings()
    schemes: list[SchemeCheck] = []
    data: dict[str, list[Sentence]] = {}
    skipped = 0
    if not config.data.dev:
        findings.warn("no dev set (data.dev): training cannot stop early or choose its best epoch, and keeps the last")
    for split in SPLITS:
        if getattr(config.data, split):
            data[split] = _read_split(config, split, schemes, findings)
    if "train" in data:
        kept = [s for s in data["train"] if s.tokens and s.tags]  # as training takes them
        skipped, data["train"] = len(data["train"]) - len(kept), kept
    train = data.get("train", [])
    vocab, rows, used = _vocabulary(config, train, findings)
    specs = {task: TaskSpec.of(task, task_config, vocab.labels[task].items if task in vocab.labels else ())
             for task, task_config in config.tasks.items()}
    covered = set(rows.ids) if rows is not None else set()
    train_keys = {word_key(token, vocab.lowercase) for s in train for token in s.tokens}
    splits = {}
    for split, sentences in data.items():
        splits[split] = SplitReport(
            sources=[s.name for s in getattr(config.data, split)], sentences=len(sentences), tokens=sum(map(len, sentences)),
            skipped=skipped if split == "train" else 0, lengths=LengthStats.of([len(s) for s in sentences]),
            words=_word_stats(sentences, vocab, covered, None if split == "train" else train_keys),
            tasks={task: _task_counts(sentences, spec) for task, spec in specs.items()},
            unseen=unseen_label_counts(sentences, specs) if split != "train" else {},
        )
    vectors = None
    if rows is not None:
        from tagger.training.transfer import coverage

        vectors = VectorCoverage(**coverage(train, vocab, rows))
    embeddings = used.embeddings
    report = DataReport(
        config=name, tasks={task: spec.scheme or "token" for task, spec in specs.items()}, splits=splits, schemes=schemes,
        vocabulary=VocabularyStats(len(vocab.words), vocab.lowercase, embeddings.min_freq, embeddings.max_words,
                                   embeddings.max_vectors if rows is not None else 0),
        vectors=vectors, overlaps=_overlaps(data),
    )
    _warn(report, data, specs, findings)
    report.warnings, report.errors = findings.warnings, findings.errors
    return report


def _read_split(config: TaggerConfig, split: str, schemes: list[SchemeCheck], findings: _Findings) -> list[Sentence]:
    """One split as training loads it. A stray tag of a strict task is recorded as an error, and
    the split read again leniently; any other reading error is raised."""
    sources = getattr(config.data, split)
    limit = config.data.max_train_sentences if split == "train" else 0
    checks: list[SchemeCheck] = []

    def on_read(source: SourceConfig, sentences: list[Sentence]) -> None:
        checks.extend(_scheme_checks(split, source, sentences, config.tasks))

    with _logged_warnings(findings, split):
        try:
            sentences = load_sentences(sources, config.tasks, limit, on_read)
        except DataFormatError as error:
            lenient = {task: replace(task_config, strict=False) for task, task_config in config.tasks.items()}
            if lenient == config.tasks:
                raise
            checks.clear()
            sentences = load_sentences(sources, lenient, limit, on_read)  # raises the error again unless strictness caused it
            findings.errors.append(f"{split}: {error}")
    schemes.extend(checks)
    return sentences


@contextmanager
def _logged_warnings(findings: _Findings, split: str) -> Iterator[None]:
    """What reading logs as warnings (sentences merged across sources that differ), as findings."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            findings.warn(f"{split}: {record.getMessage()}")

    logger = logging.getLogger("tagger.data")
    handler = Collect(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _scheme_checks(split: str, source: SourceConfig, sentences: list[Sentence], tasks: Mapping[str, TaskConfig]) -> list[SchemeCheck]:
    checks = []
    for task, spec in task_specs(tasks).items():
        labelled = [s.tags[task] for s in sentences if task in s.tags]
        if not spec.is_span or not labelled:
            continue
        try:
            detected = detect_scheme(labelled)
            stray = sum(_stray_tags(tags, detected) for tags in labelled)
        except ValueError:  # a tag that is no span tag (or a SchemeError): the loader names it with its line
            continue
        checks.append(SchemeCheck(split, source.name, task, detected, spec.scheme or "", spec.strict, len(labelled), stray))
    return checks


def _stray_tags(tags: Sequence[str], scheme: str) -> int:
    """I- or E- tags that continue no span: the spans lenient decoding starts with one (IOB1 has none)."""
    if scheme == "IOB1":
        return 0
    return sum(split_tag(tags[span.start])[0] in ("I", "E") for span in tags_to_spans(tags, scheme))  # type: ignore[arg-type]


def _vocabulary(config: TaggerConfig, train: list[Sentence], findings: _Findings) -> tuple[Vocab, VectorRows | None, TaggerConfig]:
    """The vocabulary and vector rows as training builds them, and the config they were built with.
    Vectors that cannot be found are left out with a warning; a task without training labels or
    vectors that cannot be read are errors, and the vocabulary is built without them."""
    from tagger.training.transfer import build_vocabulary, load_base, take_architecture

    base = None
    if config.init_from:
        base = load_base(config)
        config = take_architecture(config, base.config)
    if config.embeddings.pretrained:
        located, problem = _locate_vectors(config.embeddings.pretrained)
        if problem:
            findings.warn(f"{problem}; vector coverage is not reported")
        config = replace(config, embeddings=replace(config.embeddings, pretrained=located))
    for _ in range(3):  # at most one retry for each of the two errors below
        try:
            vocab, rows = build_vocabulary(config, train, None, base.vocab if base else None)
            return vocab, rows, config
        except ConfigError as error:
            if not error.key.startswith("tasks."):
                raise  # the config does not fit the vectors (word_dim)
            findings.errors.append(f"train: {error}")
            labelled = {task: c for task, c in config.tasks.items() if any(tag != NO_LABEL for s in train for tag in s.tags.get(task, ()))}
            config = replace(config, tasks=labelled)
        except TaggerError as error:  # the vectors are there, but cannot be read
            findings.errors.append(f"vectors: {error}")
            config = replace(config, embeddings=replace(config.embeddings, pretrained=""))
    raise AssertionError("unreachable: each error is retried once without its cause")


def _locate_vectors(pretrained: str) -> tuple[str, str]:
    """Where the vectors are (a path or spacy:NAME), found without downloading, or "" and why not."""
    from tagger.data.vectors import SPACY_PREFIX

    if pretrained.startswith(SPACY_PREFIX):
        import spacy

        name = pretrained[len(SPACY_PREFIX):]
        found = Path(name).is_dir() or spacy.util.is_package(name)
        return (pretrained, "") if found else ("", f"vectors {pretrained}: no such spaCy package or directory")
    if Path(pretrained).expanduser().exists():
        return pretrained, ""
    from tagger.data.catalogue import CorpusError, resolve_vectors, vectors_catalogue

    catalogue = vectors_catalogue()
    if pretrained not in catalogue:
        return "", f"vectors {pretrained}: no such file or directory, and no such name in the vectors catalogue ({', '.join(catalogue)})"
    try:
        return str(resolve_vectors(pretrained, download=False)), ""
    except CorpusError as error:
        download = f" (tagger train would download them from {catalogue[pretrained].download})" if catalogue[pretrained].download else ""
        return "", f"{error}{download}"


def _word_stats(sentences: Sequence[Sentence], vocab: Vocab, covered: set[int], train_keys: set[str] | None) -> WordStats:
    counts = Counter(token for s in sentences for token in s.tokens)
    unknown = vocab.words.id(UNK)
    ids = {form: vocab.word_id(form) for form in counts}
    oov = Counter({form: n for form, n in counts.items() if ids[form] == unknown})
    with_vector = {form for form, word_id in ids.items() if word_id in covered}
    new = {form for form in counts if word_key(form, vocab.lowercase) not in train_keys} if train_keys is not None else set()
    return WordStats(
        tokens=sum(counts.values()), forms=len(counts), oov_tokens=sum(oov.values()), oov_forms=len(oov),
        oov_examples=[form for form, _ in oov.most_common(EXAMPLES)], new_tokens=sum(counts[form] for form in new),
        new_forms=len(new), new_forms_with_vector=len(new & with_vector), vector_tokens=sum(counts[form] for form in with_vector),
        vector_forms=len(with_vector),
    )


def _task_counts(sentences: Sequence[Sentence], spec: TaskSpec) -> TaskCounts:
    labelled = [s.tags[spec.name] for s in sentences if spec.name in s.tags]
    tags = Counter(tag for sequence in labelled for tag in sequence if tag != NO_LABEL)
    if not spec.is_span:
        return TaskCounts(len(labelled), sum(tags.values()), dict(tags.most_common()))
    spans = Counter(span.label for sequence in labelled for span in tags_to_spans(sequence, spec.scheme))  # type: ignore[arg-type]
    return TaskCounts(len(labelled), sum(tags.values()), dict(spans.most_common()), dict(tags.most_common()))


def _overlaps(data: Mapping[str, list[Sentence]]) -> list[Overlap]:
    tokens = {split: [tuple(s.tokens) for s in sentences if s.tokens] for split, sentences in data.items()}
    found = []
    for first, second in (("train", "train"), ("train", "dev"), ("train", "test"), ("dev", "test")):
        if first not in tokens or second not in tokens:
            continue
        if first == second:
            shared = _repeats(tokens[first])
        else:
            known = set(tokens[first])
            shared = [sequence for sequence in tokens[second] if sequence in known]
        longest = sorted(set(shared), key=len, reverse=True)[:EXAMPLES]
        found.append(Overlap(first, second, len(shared), sum(len(s) >= MIN_DUPLICATE_TOKENS for s in shared), [" ".join(s) for s in longest]))
    return found


def _repeats(sequences: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The sequences that repeat an earlier one."""
    seen: set[tuple[str, ...]] = set()
    repeats = []
    for sequence in sequences:
        if sequence in seen:
            repeats.append(sequence)
        seen.add(sequence)
    return repeats


def _warn(report: DataReport, data: Mapping[str, list[Sentence]], specs: Mapping[str, TaskSpec], findings: _Findings) -> None:
    """Every finding worth a warning, in the order the report shows them."""
    for check in report.schemes:
        if check.stray and not check.strict:
            findings.warn(f"{check.split} {check.source}: {check.stray:,} stray I- tags of task {check.task!r} (continuing no span) "
                          f"were read as span starts; set tasks.{check.task}.strict = true to refuse them")
    for split, stats in report.splits.items():
        if not stats.sentences:
            read = f" ({stats.skipped:,} read, none with both)" if stats.skipped else ""
            findings.warn(f"{split} is empty: no sentence with tokens{' and labels' if split == 'train' else ''}{read}")
            continue
        if stats.skipped:
            findings.warn(f"{split}: {stats.skipped:,} sentences without tokens or labels are left out of training")
        for task, counts in stats.tasks.items():
            if split != "train" and not counts.tokens:
                findings.warn(f"{split} has no labels of task {task!r}: it is not scored there")
        if split != "train" and (unseen := unseen_labels(data[split], specs)):
            findings.warn(f"{split}: {unseen}")
        if stats.lengths and stats.lengths.long:
            findings.warn(f"{split}: {stats.lengths.long:,} sentences are longer than {LONG_SENTENCE} tokens (the longest {stats.lengths.max:,}): "
                          "training takes them whole, prediction labels such inputs in pieces")
    if report.vectors is not None and report.vectors.training_tokens < LOW_VECTOR_COVERAGE:
        findings.warn(f"the vectors reach only {100 * report.vectors.training_tokens:.1f}% of training tokens: "
                      "check that they are for this language and that embeddings.lowercase suits them")
    for overlap in report.overlaps:
        if overlap.long:
            what = (f"{overlap.sentences:,} train sentences repeat an earlier one" if overlap.first == overlap.second
                    else f"{overlap.sentences:,} {overlap.second} sentences are also in {overlap.first}")
            findings.warn(f"{what} ({overlap.long:,} of {MIN_DUPLICATE_TOKENS} tokens or more), e.g. {shorten(overlap.examples[0])!r}")


def shorten(text: str, width: int = 80) -> str:
    """``text``, cut to ``width`` characters with "..." when longer."""
    return text if len(text) <= width else text[:width - 3] + "..."
