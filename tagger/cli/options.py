"""Command-line options declared once, from the fields of a settings dataclass.

``@declared(RunOptions, ServiceSettings)`` replaces a command's ``**options`` by one option per
field: flag, default, help and the check come from the field (:func:`tagger.core.config.options_of`),
so ``--threads 2000`` is refused with the words ``RunOptions(threads=2000)`` is, and every command
that runs a model offers the same ``--device``, ``--precision``, ``--threads`` and ``--batch-size``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tagger.core.config import Option, options_of
from tagger.core.errors import ConfigError
from tagger.core.runtime import RunOptions

Group = type | tuple[type, Collection[str]]  # a settings class: all its fields, or those named


def declared(*groups: Group, defaults: Mapping[str, Any] | None = None, helps: Mapping[str, str] | None = None) -> Callable[[Any], Any]:
    """A decorator: the command's ``**options`` become one typer option per field of ``groups``, with
    ``defaults`` and ``helps`` in place of a field's own where a command differs (train's ``threads``)."""
    def decorate(command: Any) -> Any:
        signature = inspect.signature(command, eval_str=True)
        fixed = [parameter for parameter in signature.parameters.values() if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
        generated = [_parameter(replace(option, help=(helps or {}).get(option.name, option.help)), (defaults or {}).get(option.name, option.default))
                     for option in _options(groups)]
        command.__signature__ = signature.replace(parameters=[*fixed, *generated])
        return command

    return decorate


def _options(groups: tuple[Group, ...]) -> list[Option]:
    found = []
    for group in groups:
        kind, names = group if isinstance(group, tuple) else (group, None)
        found.extend(options_of(kind, names))
    return found


def _parameter(option: Option, default: Any) -> inspect.Parameter:
    kind = Optional[option.kind] if option.optional else option.kind
    if option.kind is bool:  # a flag, and its --no- form
        declared_option = typer.Option(f"{option.flag}/--no-{option.flag[2:]}", help=option.help)
    else:
        declared_option = typer.Option(option.flag, parser=_parser(option), help=option.help, show_default=option.shown or True,
                                       metavar=_METAVARS.get(option.kind, "TEXT"))
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, declared_option])  # type: ignore[valid-type]


_METAVARS = {int: "N", float: "NUMBER", str: "TEXT", Path: "PATH"}


def _parser(option: Option) -> Callable[[str], Any]:
    """The option's text checked as its field is; a bad value is click's usage error, in the field's words."""
    def parse(text: Any) -> Any:
        try:
            return option.parse(text) if isinstance(text, str) else text
        except ConfigError as error:
            raise typer.BadParameter(error.reason) from None

    return parse


def picked(kind: type, options: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``options`` that are fields of the dataclass ``kind``."""
    names = {item.name for item in fields(kind)}
    return {name: value for name, value in options.items() if name in names}


TRAINING_FLAGS = ((RunOptions, ("device", "threads")),)  # what train and pretrain take: as the config's training.device, .threads
TRAINING_DEFAULTS = {"device": None, "threads": None}  # not given: as the config says
TRAINING_HELPS = {"device": "training.device: \"auto\" (CUDA when there is one), \"cpu\", \"cuda\", \"cuda:N\" or \"mps\"; default the config's.",
                  "threads": "training.threads: torch threads (0: one per core that is idle when training starts); default the config's."}


def training_overrides(options: Mapping[str, Any]) -> list[str]:
    """``--device`` and ``--threads`` of train or pretrain as ``--set`` overrides of ``training.device`` and
    ``training.threads`` (the config checks them, in RunOptions' words)."""
    return [f"training.{name}={json.dumps(options[name])}" for name in ("device", "threads") if options.get(name) is not None]


def run_options(options: Mapping[str, Any]) -> RunOptions:
    """The RunOptions a command's declared options give (ConfigError for a combination that cannot run:
    int8 off the CPU, or without onnxruntime)."""
    return RunOptions(**picked(RunOptions, options))
