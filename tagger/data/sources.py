"""From config sources to Sentences ready for training: reading, merging, scheme conversion."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping

from tagger.core.config import SourceConfig, TaggerConfig, TaskConfig
from tagger.core.errors import ConfigError, DataFormatError
from tagger.core.schemes import SchemeError, convert, detect_scheme, split_tag
from tagger.core.tasks import TaskSpec, task_specs
from tagger.core.types import Sentence
from tagger.data import catalogue
from tagger.data.readers import read_corpus
from tagger.data.readers.hf_datasets import read_dataset

logger = logging.getLogger(__name__)


def source_layout(source: SourceConfig) -> tuple[str | None, dict[str, int | str] | None, int]:
    """Format, task columns and token column of a file source: the config's, else its catalogue entry's."""
    fmt, columns, token_column = source.format or None, dict(source.columns) or None, source.token_column
    if catalogue.is_reference(source.path):
        entry = catalogue.entry(source.path.partition(":")[0])
        fmt = fmt or entry.format
        if columns is None and entry.columns:
            columns, token_column = dict(entry.columns), entry.token_column
    return fmt, columns, token_column


def read_source(source: SourceConfig) -> Iterator[Sentence]:
    """Stream the Sentences of one configured source, labels as they are in the file (a catalogue corpus's
    ``relabel`` applied: UNER's OTH and stray B-O tags read as O)."""
    if source.dataset:
        columns = dict(source.columns) or None
        yield from read_dataset(source.dataset, source.split, columns, source.tokens_field, source.data_files)  # type: ignore[arg-type]
        return
    if not source.path:
        raise ConfigError("data", "a source needs a path, a corpus name:split, or a dataset")
    path = source.path
    relabel: dict[str, str] = {}
    if catalogue.looks_like_reference(path):
        try:
            found, entry = catalogue.resolve(path)
        except catalogue.CorpusError as error:
            raise DataFormatError(source.path, None, str(error).removeprefix(f"{source.path}: ")) from None
        path, relabel = str(found), entry.relabel  # UNER: its OTH entities and stray B-O tags are O
    fmt, columns, token_column = source_layout(source)
    for sentence in read_corpus(path, fmt, columns=columns, token_column=token_column, tokens_field=source.tokens_field):
        if relabel:
            sentence.tags = {task: [relabel.get(tag, tag) for tag in tags] for task, tags in sentence.tags.items()}
        yield sentence


def load_sentences(
    sources: Iterable[SourceConfig], tasks: Mapping[str, TaskConfig], limit: int = 0,
    on_read: Callable[[SourceConfig, list[Sentence]], None] | None = None,
) -> list[Sentence]:
    """Read, merge and prepare every source: only the model's tasks, span tags in each task's scheme.

    Sentences with the same ``sent_id`` (or, without one, the same tokens) in several
    sources are merged into one carrying all their tasks, e.g. UD UPOS and UNER NER
    over the same EWT sentences. ``on_read`` sees each source's sentences as read, before
    their span tags are converted (``tagger debug-data`` counts the stray I- tags there).
    """
    merged: dict[object, Sentence] = {}
    mismatched = 0
    for source in sources:
        sentences = [_only_tasks(s, tasks) for s in read_source(source)]
        if on_read is not None:
            on_read(source, sentences)
        for spec in task_specs(tasks).values():
            if spec.is_span:
                _to_scheme(sentences, spec)
        occurrences: Counter[tuple[str, ...]] = Counter()
        for sentence in sentences:
            tokens = tuple(sentence.tokens)
            occurrences[tokens] += 1  # a sentence repeated within one source stays repeated
            key = sentence.meta.get("sent_id") or (tokens, occurrences[tokens])
            known = merged.get(key)
            if known is None:
                merged[key] = sentence
            elif known.tokens == sentence.tokens:
                known.tags.update(sentence.tags)
            else:
                # Same sentence, other tokenization (corpus versions differ): keep both apart.
                mismatched += 1
                merged[(key, len(merged))] = sentence
        if limit and len(merged) >= limit:
            break
    if mismatched:
        logger.warning("%d sentences share a sent_id but not their tokens across sources; kept apart", mismatched)
    result = list(merged.values())
    return result[:limit] if limit else result


def _only_tasks(sentence: Sentence, tasks: Mapping[str, TaskConfig]) -> Sentence:
    sentence.tags = {task: tags for task, tags in sentence.tags.items() if task in tasks}
    return sentence


def _to_scheme(sentences: list[Sentence], spec: TaskSpec) -> None:
    """Convert one span task's tags, in place, from the scheme the data uses to the task's scheme."""
    task = spec.name
    labelled = [s for s in sentences if task in s.tags]
    if not labelled:
        return
    for sentence in labelled:  # a tag that is no span tag at all, named with its line
        for index, tag in enumerate(sentence.tags[task]):
            try:
                split_tag(tag)
            except ValueError as error:
                raise DataFormatError(sentence.meta.get("source", "?"), _tag_line(sentence, index), f"task {task!r}: {error}") from None
    source_scheme = detect_scheme(s.tags[task] for s in labelled)
    if source_scheme != spec.scheme:
        logger.info("task %s: converting %s tags to %s", task, source_scheme, spec.scheme)
    for sentence in labelled:
        try:
            sentence.tags[task] = convert(sentence.tags[task], source_scheme, spec.scheme, spec.strict)  # type: ignore[arg-type]
        except SchemeError as error:
            raise DataFormatError(sentence.meta.get("source", "?"), _tag_line(sentence, error.index), f"task {task!r}: {error}") from None


def _tag_line(sentence: Sentence, index: int) -> int | None:
    """The file line of token ``index`` in one-token-per-line formats (else the sentence's line)."""
    first = sentence.meta.get("token_line")
    return first + index if first else sentence.meta.get("line")


def source_for_file(corpus: str, fmt: str | None, trained_on: Iterable[SourceConfig]) -> SourceConfig:
    """A source for evaluating on ``corpus``, with columns mapped to tasks as at training.

    Column files take the column layout of a training source of the same format (or
    the catalogue's); tasks whose column the file does not have are left out.
    """
    if catalogue.looks_like_reference(corpus):
        return SourceConfig(path=corpus, format=fmt or "")  # read_source resolves it, or names the catalogue
    from tagger.data.readers import DEFAULT_COLUMNS, infer_format

    fmt = fmt or infer_format(corpus)
    if fmt not in ("conll", "iob2"):
        return SourceConfig(path=corpus, format=fmt)
    columns: dict[str, int | str] = dict(DEFAULT_COLUMNS.get(fmt, {}).get("columns", {}))
    token_column = DEFAULT_COLUMNS.get(fmt, {}).get("token_column", 0)
    for source in trained_on:
        if not source.path:
            continue
        source_fmt, source_columns, source_token = source_layout(source)
        source_fmt = source_fmt or infer_format(source.path)
        if source_fmt == fmt and source_columns:
            columns, token_column = source_columns, source_token
            break
    width = _first_row_width(corpus)
    columns = {task: index for task, index in columns.items() if isinstance(index, int) and index < width}
    return SourceConfig(path=corpus, format=fmt, columns=columns, token_column=token_column)


def load_corpus(corpus: str, fmt: str | None, config: TaggerConfig, limit: int = 0) -> list[Sentence]:
    """``corpus`` (a file or ``name:split``) read for a model of ``config``: its columns mapped to
    tasks as at training (:func:`source_for_file`), only the model's tasks, span tags in their scheme."""
    return load_sentences([source_for_file(corpus, fmt, config.data.train)], config.tasks, limit)


def _first_row_width(path: str) -> int:
    from tagger.data.readers.lines import read_lines

    for _, line in read_lines(path):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "-DOCSTART-")):
            return len(line.split("\t") if "\t" in line else stripped.split())
    return 0
