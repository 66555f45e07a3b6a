"""Hugging Face ``datasets`` as a corpus: a hub name, a local ``save_to_disk`` folder, or data files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from tagger.core.errors import DataFormatError
from tagger.core.types import Sentence


def read_dataset(
    name: str,
    split: str = "train",
    columns: Mapping[str, str] | None = None,
    tokens_field: str = "tokens",
    data_files: list[str] | None = None,
    text_field: str = "text",
) -> Iterator[Sentence]:
    """Yield Sentences from a dataset whose rows hold a token list and one label list per task.

    ``name`` is a hub name, a folder written by ``save_to_disk``, or a builder such as
    ``"json"`` or ``"parquet"`` reading ``data_files``.

    Integer labels of a ``Sequence(ClassLabel)`` feature are turned into their names.
    ``columns`` maps task -> field; by default every other list field with a label
    feature becomes a task named after it. A dataset with a ``text_field`` and no
    ``tokens_field`` gives raw-text Sentences (tokenized later), as for pretraining.
    """
    import datasets  # imported here: it is slow to import and only this reader needs it

    local = Path(name)
    if local.is_dir() and any((local / marker).exists() for marker in ("dataset_info.json", "dataset_dict.json")):
        loaded = datasets.load_from_disk(str(local))
        dataset = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    else:
        try:
            dataset = datasets.load_dataset(name, data_files=data_files or None, split=split)
        except (FileNotFoundError, ValueError) as error:
            raise DataFormatError(name, None, f"cannot load dataset: {error}") from None
    if tokens_field not in dataset.column_names and text_field in dataset.column_names:
        # Raw text (e.g. for tagger pretrain): tokenized later by the spaCy front end.
        for index, row in enumerate(dataset):
            if row[text_field] and row[text_field].strip():
                yield Sentence([], text=row[text_field], meta={"source": f"{name}:{split}", "line": index + 1})
        return
    if tokens_field not in dataset.column_names:
        raise DataFormatError(name, None, f"dataset has no {tokens_field!r} or {text_field!r} field; fields: {', '.join(dataset.column_names)}")
    if columns is None:
        columns = {field: field for field in dataset.column_names if field != tokens_field and _label_names(dataset.features[field]) is not None}
    names = {}
    for task, field in columns.items():
        if field not in dataset.column_names:
            raise DataFormatError(name, None, f"dataset has no {field!r} field for task {task!r}; fields: {', '.join(dataset.column_names)}")
        names[task] = _label_names(dataset.features[field])
    for index, row in enumerate(dataset):
        tags = {}
        for task, field in columns.items():
            labels = row[field]
            if names[task]:
                labels = [names[task][label] for label in labels]
            if len(labels) != len(row[tokens_field]):
                raise DataFormatError(name, index + 1, f"{field!r} has {len(labels)} labels for {len(row[tokens_field])} tokens (row {index})")
            tags[task] = [str(label) for label in labels]
        yield Sentence(list(row[tokens_field]), tags, meta={"source": f"{name}:{split}", "line": index + 1})


def _label_names(feature: object) -> list[str] | None:
    """Label names of a ``Sequence(ClassLabel)`` (or ``[]`` for a sequence of strings); None otherwise."""
    import datasets

    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    if isinstance(inner, datasets.ClassLabel):
        return list(inner.names)
    if isinstance(inner, datasets.Value) and inner.dtype == "string":
        return []
    return None
