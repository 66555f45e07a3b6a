"""``tagger info``: what a model is, read without loading its weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from tagger.cli.common import app, fail, out, print_json
from tagger.core.errors import TaggerError

if TYPE_CHECKING:
    from tagger.core.model_info import ModelInfo


@app.command()
def info(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: name, encoder, embeddings, tasks (kind, decoder, scheme, "
                                                         "labels), corpora, training, scores, seeds, versions.")] = False,
) -> None:
    """What a model is: tasks, labels, sizes, training corpora and recorded scores."""
    from tagger.model.serialize import describe

    try:
        described = describe(model)
    except (TaggerError, OSError) as error:
        fail(error)
    if as_json:
        print_json(info_dict(model, described))
        return
    out.print(_table(model, described))


def info_dict(model: Path, described: ModelInfo) -> dict[str, Any]:
    """What the table shows, as data: sizes and labels in full, scores and training as meta.json records them."""
    config, meta = described.config, described.meta
    encoder, embeddings = config.encoder, config.embeddings
    return {
        "name": described.name,
        "path": str(model),
        "lang": config.lang,
        "encoder": {"kind": encoder.kind, "num_layers": encoder.num_layers, "hidden_size": encoder.hidden_size, "bidirectional": True},
        "embeddings": {"words": described.words, "word_dim": embeddings.word_dim, "chars": described.chars, "char_encoder": embeddings.char_encoder},
        "parameters": meta.get("parameters"),
        "vectors": meta.get("vectors"),
        "tasks": {name: {"kind": spec.kind, "decoder": spec.decoder, "scheme": spec.scheme, "labels": list(spec.labels)}
                  for name, spec in described.tasks.items()},
        "segmenter": described.segmentation or None,
        "corpora": described.corpora,
        "training": meta.get("training", {}),
        "finished": described.finished,
        "scores": described.scores,
        "seeds": meta.get("seeds"),
        "ensemble": meta.get("ensemble"),
        "sha256": meta.get("sha256", {}),
        "created": meta.get("created"),
        "versions": meta.get("versions", {}),
    }


def _table(model: Path, described: ModelInfo) -> Table:
    # Paths, corpus names, task names and labels are the user's: escaped, so that rich reads no markup in them.
    config, meta = described.config, described.meta
    table = Table(title=escape(str(model)), show_header=False)
    table.add_column("key")
    table.add_column("value")
    encoder, embeddings = config.encoder, config.embeddings
    if ensemble := meta.get("ensemble"):
        table.add_row("ensemble", escape(f"{len(ensemble['members'])} models ({', '.join(ensemble['members'])}) label together; CRF tasks "
                                         f"by their mean {ensemble['crf']}; each member:"))
    table.add_row("encoder", f"{encoder.num_layers}-layer bidirectional {encoder.kind.upper()}, hidden {encoder.hidden_size} per direction")
    table.add_row("embeddings", f"words {described.words} x {embeddings.word_dim}, chars {described.chars} ({embeddings.char_encoder})")
    table.add_row("parameters", f"{meta.get('parameters', 0):,}")
    vectors = meta.get("vectors")
    if vectors:
        table.add_row("vectors", f"{escape(str(vectors['source']))} ({vectors['dim']}-d{', frozen' if vectors.get('frozen') else ''}): "
                      f"{vectors['words_with_vectors']:,} words start from one; {100 * vectors['training_tokens']:.1f}% of "
                      f"training tokens, {100 * vectors['training_types']:.1f}% of forms")
    for task, spec in described.tasks.items():
        kind = spec.decoder + (f", {spec.scheme} spans" if spec.is_span else "")
        labels = spec.labels
        table.add_row(escape(f"task {task}"), escape(f"{kind}; {len(labels)} labels: {' '.join(labels[:40])}{' ...' if len(labels) > 40 else ''}"))
    segmentation = described.segmentation
    if segmentation:
        scores = "; ".join(f"{split} words F1 {found['sentences']['words_f1']:.2f} sentence by sentence, {found['documents']['words_f1']:.2f} "
                           "from documents" + (f" (sentences F1 {found['documents']['sentences_f1']:.2f})" if "sentences_f1" in found["documents"] else "")
                           for split, found in segmentation.get("scores", {}).items())
        table.add_row("segmenter", f"learned from the corpus (lexicon of {segmentation.get('lexicon', 0):,} words); {escape(scores) or 'not scored'}")
    for split, paths in described.corpora.items():
        table.add_row(escape(f"corpus {split}"), escape(", ".join(paths)))
    training = meta.get("training", {})
    if training:
        unfinished = "" if described.finished else "[bold red]UNFINISHED[/]: stopped before its end, the best epoch so far; "
        table.add_row("training", unfinished + escape(", ".join(f"{k} {v}" for k, v in training.items() if k != "finished")))
    if meta.get("sha256") and not ensemble:
        table.add_row("files", f"sha256 of {', '.join(meta['sha256'])} match meta.json")
    for split, scores in described.scores.items():
        for task, values in scores.items():
            shown = ", ".join(f"{m} {100 * values[m]:.2f}" for m in ("accuracy", "precision", "recall", "f1") if m in values)
            table.add_row(escape(f"{split} {task}"), shown)
    seeds = meta.get("seeds")
    if seeds:
        for split, tasks in seeds["summary"].items():
            for task, value in tasks.items():
                table.add_row(escape(f"{split} {task} over seeds"), f"{100 * value['mean']:.2f} ± {100 * value['sd']:.2f} "
                              f"({len(seeds['runs'])} seeds; this is seed {seeds['chosen']}, the best by dev)")
    table.add_row("created", escape(f"{meta.get('created', '?')} with {json.dumps(meta.get('versions', {}))}"))
    return table
