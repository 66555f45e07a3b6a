"""``tagger export-spacy``: a model directory as a complete spaCy pipeline folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tagger.core.errors import writing
from tagger.files.atomic import atomic_folder
from tagger.files.outputs import Output, claim
from tagger.spacy.component import FACTORY, BiRNNTagger
from tagger.spacy.tokenizer import TOKENIZER

if TYPE_CHECKING:
    from tagger.model.predict import Tagger

# Scores recorded at training -> the keys spaCy's meta.json uses for them.
SPACY_SCORE_KEYS = {"pos": {"accuracy": "pos_acc"}, "tag": {"accuracy": "tag_acc"}, "morph": {"accuracy": "morph_acc"},
                    "lemma": {"accuracy": "lemma_acc"}, "ents": {"precision": "ents_p", "recall": "ents_r", "f1": "ents_f"}}


def export_pipeline(
    model: str | Path,
    output: str | Path,
    lang: str | None = None,
    name: str | None = None,
    version: str = "0.0.0",
    overwrite: bool = False,
) -> Path:
    """Write a spaCy pipeline (the language's tokenizer, or the model's own segmenter as the tokenizer, + the
    birnn_tagger component with the model inside).

    The folder loads with ``spacy.load`` wherever ``birnn-tagger`` is installed, and ``spacy
    package`` can package it (its meta lists ``birnn-tagger`` as a requirement). It is written
    next to ``output`` and renamed into place, so a failed export leaves nothing half-written.
    """
    from tagger.model.predict import Tagger

    output = Path(output)
    with claim([Output(output, "the pipeline folder", folder=True, written_by_us=is_pipeline)], [model], overwrite):
        return _export(Tagger.load(model), output, lang, name, version)


def is_pipeline(folder: Path) -> bool:
    """Whether ``folder`` holds a spaCy pipeline (its config.cfg and meta.json): what --overwrite may replace."""
    return (folder / "config.cfg").is_file() and (folder / "meta.json").is_file()


def _export(tagger: Tagger, output: Path, lang: str | None, name: str | None, version: str) -> Path:
    import spacy

    from tagger.core.version import __version__

    if tagger.segmenter is not None:
        nlp = spacy.blank(lang or tagger.info.config.lang, config={"nlp": {"tokenizer": {"@tokenizers": TOKENIZER}}})
        nlp.tokenizer.set_segmenter(tagger.segmenter)
    else:
        nlp = spacy.blank(lang or tagger.info.config.lang)
    component: BiRNNTagger = nlp.add_pipe(FACTORY)  # type: ignore[assignment]
    component.set_tagger(tagger)
    # spaCy package names a package <lang>_<name>: lower-case letters, digits and underscores.
    name = re.sub(r"[^a-z0-9_]+", "_", (name or tagger.info.name).lower()).strip("_") or "birnn"
    nlp.meta.update(_pipeline_meta(tagger, component, name, version))
    nlp.meta["requirements"] = [f"birnn-tagger>={__version__}"]
    with writing(output, f"Nothing was changed at {output}: free some space and export again."), atomic_folder(output) as partial:
        nlp.to_disk(partial)
    return output


def _pipeline_meta(tagger: Tagger, component: BiRNNTagger, name: str, version: str) -> dict[str, Any]:
    test = tagger.info.scores.get("test", {})
    performance = {}
    for task, target in component.targets.items():
        for metric, key in SPACY_SCORE_KEYS.get(target, {}).items():
            if metric in test.get(task, {}):
                performance[key] = test[task][metric]
    corpora = sorted({source for sources in tagger.info.corpora.values() for source in sources})
    return {
        "name": name,
        "version": version,
        "description": f"birnn-tagger model ({', '.join(f'{task} -> {target}' for task, target in component.targets.items())})",
        "sources": [{"name": corpus} for corpus in corpora],
        "performance": performance,
    }
