"""What ``tagger annotate`` reads and writes (AnnotateOptions): the options it declares its flags from,
checked when made. Light to import: the command line builds its options from these fields."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from tagger.core.config import MAX_THREADS, Range, check_settings, setting
from tagger.core.errors import ConfigError, TaggerError
from tagger.core.tasks import NO_TASKS, check_task_selection
from tagger.data.formats import format_of
from tagger.data.writers import WRITE_FORMATS

if TYPE_CHECKING:
    from tagger.core.model_info import ModelInfo

LABEL_MAPPED = ("html", "spacy")  # the outputs in spaCy's scheme, where --label-map renames entity types


@dataclass(frozen=True)
class AnnotateOptions:
    """How to read the input and write the output: the options of ``tagger annotate``, which declares its
    flags from these fields (:mod:`tagger.cli.options`); how the model runs is the Tagger's RunOptions."""

    input_format: str | None = setting(None, "Input format; default from the extension.", flag="--format")
    output_format: str | None = setting(None, "jsonl, conllu, conll, html (a page to look at: entities highlighted by displaCy, tags "
                                              "below the tokens) or spacy; default from OUTPUT's extension, else jsonl.")
    text_field: str = setting("text", "JSONL field with raw text.")
    tokens_field: str = setting("tokens", "JSONL field with a token list (used when present).")
    errors_path: Path | str | None = setting(None, "Where bad records go; default OUTPUT's name with .errors.jsonl.", flag="--errors")
    resume: bool = setting(False, "Continue an interrupted run from OUTPUT.partial.")
    overwrite: bool = setting(False, "Replace OUTPUT if it exists (never the input).")
    strict: bool = setting(False, "Stop at the first bad record instead of listing it in the errors file.")
    split: str = setting("train", "Split of a datasets dataset (--format dataset).")
    workers: Annotated[int, Range(1, MAX_THREADS)] = setting(1, "Processes labelling in parallel, each with its share of the CPU cores "
                                                             "(or --threads each); output stays in input order. With --engine ray, "
                                                             "Ray actors (default: as many as the cluster's CPUs).")
    tasks: tuple[str, ...] | None = None  # the tasks to write (None: all the model's)
    scores: bool = setting(False, "Also write each token's probability of its label, per task (JSONL: a scores field).")
    label_map: dict[str, str] | None = None  # entity types renamed in html and spacy outputs (PER -> PERSON), as spaCy's scheme has them

    def __post_init__(self) -> None:
        if isinstance(self.tasks, list):  # a list reads as well as a tuple; the options stay frozen and hashable
            object.__setattr__(self, "tasks", tuple(self.tasks))
        check_settings(self)

    def check_output_format(self, output_format: str) -> None:
        if output_format not in WRITE_FORMATS:
            raise TaggerError(f"cannot write {output_format!r}; choose one of {', '.join(WRITE_FORMATS)}")
        if self.scores and output_format in ("conllu", "conll"):
            raise TaggerError(f"--scores: {output_format} output has no place for scores; write jsonl, html or spacy")
        if self.label_map and output_format not in LABEL_MAPPED:
            raise ConfigError("--label-map", f"renames entity types in the {' and '.join(LABEL_MAPPED)} outputs only (spaCy's scheme); "
                                             f"{output_format} keeps the model's labels")

    def check_model(self, info: ModelInfo) -> None:
        """The options that must fit the model: ``tasks`` it has, a ``label_map`` of its entity types."""
        from tagger.data.doc_targets import check_label_map

        if not info.tasks:
            raise TaggerError(NO_TASKS)
        self.check_tasks(list(info.tasks))
        check_label_map(self.label_map, info.tasks, "--label-map")

    def check_tasks(self, known: list[str]) -> None:
        try:
            check_task_selection(self.tasks, known)
        except ValueError as error:
            raise TaggerError(f"--tasks: {error}") from None

    def formats(self, input_path: str | Path, output: str | Path | None) -> tuple[str, str]:
        """The input and output formats: as given, else found from the input and the output's name."""
        output_format = self.output_format or (format_of(output) if output else None) or "jsonl"
        self.check_output_format(output_format)
        from tagger.annotate.inputs import infer_input_format

        return self.input_format or infer_input_format(input_path), output_format
