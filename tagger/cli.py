"""The ``tagger`` command line: thin wrappers that parse, call the library, and print tables."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from tagger.errors import TaggerError

app = typer.Typer(help="Sequence labelling with deep bidirectional LSTM/GRU taggers.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_show_locals=False)
console = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


PrecisionOption = Annotated[str, typer.Option(help="fp32, or int8: the LSTM encoder in ONNX Runtime with int8 weights on layers 2+ (CPU, about x1.5 faster; pip install 'birnn-tagger[onnx]'); int8-all: every layer (faster, less accurate).")]


def _fail(error: Exception) -> None:
    console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False)
    raise typer.Exit(code=1)


def _scores_table(title: str, scores: dict[str, Any]) -> Table:
    table = Table(title=title)
    for column in ("task", "metric", "value"):
        table.add_column(column)
    for task, task_scores in scores.items():
        for metric in ("accuracy", "precision", "recall", "f1"):
            if metric in task_scores:
                table.add_row(task, metric, f"{100 * task_scores[metric]:.2f}")
    return table


def _epochs_table(records: list[dict[str, Any]]) -> Table:
    tasks = list(records[0]["dev"]) if records else []
    table = Table(title="training")
    for column in ("epoch", "loss", "tokens/s", "seconds", *(f"dev {t}" for t in tasks), "best"):
        table.add_column(column, justify="right")
    for r in records:
        dev = [f"{100 * r['dev'][t].get('f1', r['dev'][t].get('accuracy', 0)):.2f}" if t in r["dev"] else "-" for t in tasks]
        table.add_row(str(r["epoch"]), f"{r['train_loss']:.4f}", f"{r['tokens_per_second']:,.0f}", f"{r['seconds']:.0f}", *dev, "*" if r["best"] else "")
    return table


class ProgressMonitor:
    """Draws a progress bar per epoch (batches, tokens/s) and a line per finished epoch."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[speed]} tok/s  loss {task.fields[loss]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )
        self.task_id: Any = None
        self.tokens = 0
        self.started = 0.0

    def start_epoch(self, epoch: int, batches: int | None) -> None:
        self.progress.start()  # no-op once started
        if self.task_id is not None:
            self.progress.remove_task(self.task_id)
        self.tokens, self.started = 0, time.perf_counter()
        self.task_id = self.progress.add_task(f"epoch {epoch}", total=batches, speed="-", loss="-")

    def step(self, tokens: int, loss: float) -> None:
        self.tokens += tokens
        speed = self.tokens / max(time.perf_counter() - self.started, 1e-9)
        self.progress.update(self.task_id, advance=1, speed=f"{speed:,.0f}", loss=f"{loss:.3f}")

    def end_epoch(self, record: dict[str, Any]) -> None:
        self.progress.remove_task(self.task_id)
        self.task_id = None
        dev = "  ".join(f"{task} {100 * s.get('f1', s.get('accuracy', 0)):.2f}" for task, s in record["dev"].items())
        mark = " *" if record["best"] else ""
        self.progress.console.print(
            f"epoch {record['epoch']:>3}  loss {record['train_loss']:.4f}  {record['tokens_per_second']:,.0f} tok/s  "
            f"{record['seconds']:.0f}s  dev {dev or '-'}{mark}", highlight=False,
        )

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def _seed_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: write whole numbers separated by commas, e.g. 13,14,15") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise typer.BadParameter(f"{text!r}: name each seed once, e.g. 13,14,15")
    return seeds


def _seeds_table(result: Any) -> Table:
    from tagger.training.seeds import headline

    runs = result.runs
    dev_tasks, test_tasks = list(runs[0].dev), list(runs[0].test)
    table = Table(title=f"{len(runs)} seeds (the best by dev, seed {result.best.seed}, is the model in {result.output_dir})")
    for column in ("seed", "best epoch", "minutes", *(f"dev {t}" for t in dev_tasks), *(f"test {t}" for t in test_tasks)):
        table.add_column(column, justify="right")
    for run in runs:
        scores = [f"{100 * headline(run.dev[t]):.2f}" if t in run.dev else "-" for t in dev_tasks]
        scores += [f"{100 * headline(run.test[t]):.2f}" if t in run.test else "-" for t in test_tasks]
        table.add_row(f"{run.seed}{' *' if run is result.best else ''}", f"{run.best_epoch}/{run.epochs}", f"{run.seconds / 60:.1f}", *scores)
    summary = result.summary()
    cells = [summary.get(split, {}).get(t) for split, tasks in (("dev", dev_tasks), ("test", test_tasks)) for t in tasks]
    table.add_row("mean ± sd", "", "", *(f"{100 * c['mean']:.2f} ± {100 * c['sd']:.2f}" if c else "-" for c in cells), style="bold")
    return table


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="A TOML config (see configs/).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model directory; default models/<config name>.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: --set training.max_epochs=3")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUTPUT/checkpoint (with --seeds: each seed's; finished seeds are kept).")] = False,
    seeds: Annotated[Optional[str], typer.Option(callback=_seed_list, help="Train one model per seed, e.g. 13,14,15, into OUTPUT/seed-N; print each "
                                                 "seed's scores with mean ± sd; the best seed by dev becomes the model in OUTPUT.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Train into OUTPUT even if it holds a model, replacing it.")] = False,
) -> None:
    """Train a model and print its dev (and test) scores.

    Under torchrun every process runs this command; rank 0 alone draws progress and prints the tables.
    """
    from tagger.config import load_config
    from tagger.training.distributed import RankZeroFailed, is_main_process, process_rank
    from tagger.training.seeds import train_seeds
    from tagger.training import train as run_training

    main = is_main_process()
    seed_list: list[int] = seeds or []  # type: ignore[assignment]  # the callback made it a list
    try:
        resolved = load_config(config, overrides or [])
        directory = output or Path("models") / config.stem
        monitor = ProgressMonitor() if main else None
        if seed_list:
            several = train_seeds(resolved, directory, seed_list, resume=resume, overwrite=overwrite, monitor=monitor)  # type: ignore[arg-type]
        else:
            result = run_training(resolved, directory, resume=resume, overwrite=overwrite, monitor=monitor)  # type: ignore[arg-type]
    except TaggerError as error:
        if main:
            _fail(error)
        if not isinstance(error, RankZeroFailed):  # rank 0 reported that one
            console.print(f"[bold red]error[/] (rank {process_rank()}): {escape(str(error))}", highlight=False)
        raise typer.Exit(code=1) from None
    if not main:
        return
    if seed_list:
        out.print(_seeds_table(several))
        return
    out.print(_epochs_table(result.epochs))
    out.print(_scores_table(f"dev scores (best epoch {result.best_epoch})", {t: s.to_dict() for t, s in result.dev_scores.items()}))
    if result.test_scores:
        out.print(_scores_table("test scores", {t: s.to_dict() for t, s in result.test_scores.items()}))
    out.print(f"model saved to {result.output_dir} ({result.seconds:.0f}s, {result.train_tokens_per_second:,.0f} training tokens/s)")


@app.command()
def pretrain(
    config: Annotated[Path, typer.Argument(help="A TOML config whose data.train is raw text (see configs/pretrain-ewt.toml).")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Model directory; default models/<config name>.")] = None,
    overrides: Annotated[Optional[list[str]], typer.Option("--set", help="Override a config value: --set pretrain.max_steps=1000")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUTPUT/checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Pretrain into OUTPUT even if it holds a model, replacing it.")] = False,
) -> None:
    """Pretrain embeddings and encoder on raw text by masked-token prediction (for init_from and fill-mask)."""
    from tagger.config import load_config
    from tagger.training.pretrain import pretrain as run_pretraining

    try:
        resolved = load_config(config, ["masked_lm.weight=1.0", *(overrides or [])])  # the only loss: no tasks needed
        result = run_pretraining(resolved, output or Path("models") / config.stem, resume=resume, overwrite=overwrite,
                                  monitor=ProgressMonitor())  # type: ignore[arg-type]
    except TaggerError as error:
        _fail(error)
        return
    if result.dev_scores:
        table = Table(title="dev masked-token prediction")
        for column in ("blanks", "accuracy", "perplexity"):
            table.add_column(column, justify="right")
        scores = result.dev_scores
        table.add_row(f"{scores['tokens']:,.0f}", f"{100 * scores['accuracy']:.2f}", f"{scores['perplexity']:.1f}")
        out.print(table)
    out.print(f"model saved to {result.output_dir} ({result.steps} steps, {result.seconds:.0f}s, {result.tokens_per_second:,.0f} tokens/s)")


@app.command("fill-mask")
def fill_mask(
    model: Annotated[Path, typer.Argument(help="A model with a masked-token head (tagger pretrain, or masked_lm.weight > 0).")],
    texts: Annotated[list[str], typer.Argument(help='Text with [MASK] for each blank, e.g. "I am [MASK] hungry ."')],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Candidates per blank.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per text.")] = False,
) -> None:
    """Print the likeliest words for every [MASK] in each text, with their probabilities."""
    from tagger.predict import Tagger

    try:
        filled = Tagger.load(model).fill_mask(texts, top_k)
    except TaggerError as error:
        _fail(error)
        return
    for text, sentence in zip(texts, filled):
        if as_json:
            out.print_json(json.dumps({"text": text, **sentence.to_dict()}))
            continue
        if not sentence.blanks:
            console.print(f"no [MASK] in {text!r}")
            continue
        table = Table(title=text, title_justify="left")
        table.add_column("rank", justify="right")
        for blank in sentence.blanks:
            table.add_column(f"blank {sentence.blanks.index(blank) + 1} (token {blank.position})")
            table.add_column("p", justify="right")
        for rank in range(max(len(b.candidates) for b in sentence.blanks)):
            row = [str(rank + 1)]
            for blank in sentence.blanks:
                word, probability = blank.candidates[rank] if rank < len(blank.candidates) else ("", 0.0)
                row += [word, f"{probability:.3f}"]
            table.add_row(*row)
        out.print(table)


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    corpus: Annotated[str, typer.Argument(help="A labelled file, or a catalogue corpus such as ud-en-ewt:test.")],
    fmt: Annotated[Optional[str], typer.Option("--format", help="conllu, conll, iob2 or jsonl; default from the extension.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object of scores.")] = False,
    report: Annotated[Optional[Path], typer.Option(help="Write per-label tables and confusion-matrix PNGs here.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    precision: PrecisionOption = "fp32",
) -> None:
    """Score a model on a labelled corpus."""
    from tagger.data import load_sentences, source_for_file
    from tagger.evaluation import label_and_score, unseen_labels
    from tagger.predict import Tagger

    try:
        tagger = Tagger.load(model, precision=precision)
        source = source_for_file(corpus, fmt, tagger.config.data.train)
        gold = load_sentences([source], tagger.config.tasks)
        unseen = unseen_labels(gold, tagger.tasks)
        if unseen:
            console.print(f"[yellow]warning[/]: {escape(unseen)}", highlight=False)
        predictions, scores = label_and_score(tagger, gold, batch_size)
    except TaggerError as error:
        _fail(error)
        return
    if not scores:
        _fail(TaggerError(f"{corpus} has labels for none of the model's tasks ({', '.join(tagger.tasks)})"))
    if report:
        from tagger.report import write_report

        write_report(report, gold, predictions, scores, tagger.tasks)
    if as_json:
        out.print(json.dumps({task: s.to_dict() for task, s in scores.items()}), highlight=False)
        return
    out.print(_scores_table(f"{corpus}", {t: s.to_dict() for t, s in scores.items()}))
    for task, task_scores in scores.items():
        if task_scores.kind == "spans":
            table = Table(title=f"{task} per label")
            for column in ("label", "precision", "recall", "f1", "support"):
                table.add_column(column)
            for label, row in task_scores.per_label.items():
                table.add_row(label, *(f"{100 * row[m]:.2f}" for m in ("precision", "recall", "f1")), f"{row['support']:.0f}")
            out.print(table)
    if report:
        out.print(f"report written to {report}")


class RateColumn(ProgressColumn):
    """Documents and words per second so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if not elapsed:
            return Text("")
        return Text(f"{task.completed / elapsed:,.0f} docs/s  {task.fields.get('words', 0) / elapsed:,.0f} words/s")


def _annotate_progress() -> Progress:
    return Progress(TextColumn("annotating"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True)


@app.command()
def annotate(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Text (one document per line), JSONL, CoNLL-U, column or .spacy file; a folder or glob of text files (one document each); a dataset with --format dataset. With --engine ray: a shard file, or a folder or glob of shards.")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Output file (with --engine ray a folder of output shards); default standard output.")] = None,
    input_format: Annotated[Optional[str], typer.Option("--format", help="Input format; default from the extension.")] = None,
    output_format: Annotated[Optional[str], typer.Option("--output-format", help="jsonl, conllu, conll or spacy; default from OUTPUT's extension, else jsonl.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    text_field: Annotated[str, typer.Option(help="JSONL field with raw text.")] = "text",
    tokens_field: Annotated[str, typer.Option(help="JSONL field with a token list (used when present).")] = "tokens",
    errors: Annotated[Optional[Path], typer.Option(help="Where bad records go; default OUTPUT's name with .errors.jsonl.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run from OUTPUT.partial.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT if it exists (never the input).")] = False,
    strict: Annotated[bool, typer.Option(help="Stop at the first bad record instead of listing it in the errors file.")] = False,
    split: Annotated[str, typer.Option(help="Split of a datasets dataset (--format dataset).")] = "train",
    workers: Annotated[Optional[int], typer.Option(min=1, help="Processes labelling in parallel, each with its share of the CPU cores; output stays in input order. Default 1; with --engine ray, Ray actors (default: as many as the cluster's CPUs).")] = None,
    engine: Annotated[str, typer.Option(help="local, or ray: shards labelled by a pool of Ray actors (pip install 'birnn-tagger[ray]').")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join (e.g. auto); default a local Ray instance.")] = None,
    threads: Annotated[int, typer.Option(min=0, help="Torch threads of this process (0: one per core idle at start). On a machine that gets busy later, 1 avoids threads waiting on each other.")] = 0,
    precision: PrecisionOption = "fp32",
) -> None:
    """Label a file, a folder or glob of text files, or a dataset, streaming; write JSONL, CoNLL-U, columns or .spacy."""
    from tagger.annotate import AnnotateOptions, annotate_file, annotate_stream
    from tagger.annotate.inputs import count_records
    from tagger.annotate.resumable import resumed_records
    from tagger.predict import Tagger
    from tagger.runtime import set_threads

    options = AnnotateOptions(input_format, output_format, batch_size, text_field, tokens_field, errors, resume, overwrite, strict,
                              split, workers or 1)
    if engine not in ("local", "ray"):
        _fail(TaggerError(f"--engine: unknown engine {engine!r}; choose local or ray"))
    if engine == "ray":
        _annotate_with_ray(model, input_path, output, options, workers, ray_address, precision)
        return
    progress = _annotate_progress()
    set_threads(threads)
    try:
        source_format, _ = options.formats(input_path, output)  # an unknown format fails before the model loads
        tagger = Tagger.load(model, precision=precision)
        total = count_records(input_path, source_format)
        if total is not None and output is not None and resume:
            total -= resumed_records(output)
        with progress:
            task = progress.add_task("annotate", total=total, words=0)
            words_done = [0]

            def advance(records: int, words: int) -> None:
                words_done[0] += words
                progress.update(task, advance=records, words=words_done[0])

            if output is None:  # standard output: streaming, no errors file, no resume
                annotate_stream(tagger, input_path, options, model_dir=model, on_progress=advance)
                return
            summary = annotate_file(tagger, input_path, output, options, model_dir=model, on_progress=advance)
    except TaggerError as error:
        _fail(error)
        return
    table = Table(title=f"annotated {input_path} -> {output}")
    for column in ("done", "failed", "resumed", "seconds", "records/s"):
        table.add_column(column, justify="right")
    rate = summary.done / summary.seconds if summary.seconds else 0.0
    table.add_row(f"{summary.done:,}", f"{summary.failed:,}", f"{summary.resumed:,}", f"{summary.seconds:.1f}", f"{rate:,.0f}")
    console.print(table)
    if summary.errors_path:
        console.print(f"{summary.failed} bad records listed in {summary.errors_path}")


def _annotate_with_ray(model: Path, input_path: Path, output: Optional[Path], options: Any, actors: Optional[int],
                       address: Optional[str], precision: str) -> None:
    """``annotate --engine ray``: a table with a row per shard; exit status 1 if any shard stopped."""
    from tagger.annotate.ray import annotate_with_ray

    if output is None:
        _fail(TaggerError("--engine ray writes a folder of output shards: give -o OUTPUT_DIR"))
    try:
        results = annotate_with_ray(model, input_path, output, options, actors=actors, address=address, precision=precision)  # type: ignore[arg-type]
    except TaggerError as error:
        _fail(error)
        return
    table = Table(title=f"annotated {input_path} -> {output} on Ray")
    for column in ("shard", "status", "done", "failed", "resumed", "seconds"):
        table.add_column(column, justify="right" if column not in ("shard", "status") else "left")
    for r in results:
        table.add_row(Path(r.input).name, r.status, f"{r.done:,}", f"{r.failed:,}", f"{r.resumed:,}", f"{r.seconds:.1f}")
    table.add_row("all", "", f"{sum(r.done for r in results):,}", f"{sum(r.failed for r in results):,}",
                  f"{sum(r.resumed for r in results):,}", "", style="bold")
    console.print(table)
    stopped = [r for r in results if r.status == "stopped"]
    for r in stopped:
        console.print(f"[bold red]stopped:[/] {escape(r.error)}", highlight=False)
    if stopped:
        console.print(f"{len(stopped)} shard(s) stopped; fix them and rerun with --resume (finished shards are skipped)")
        raise typer.Exit(code=1)


@app.command("export-spacy")
def export_spacy(
    model: Annotated[Path, typer.Argument(help="A model directory.")],
    output_dir: Annotated[Path, typer.Argument(help="Folder for the spaCy pipeline.")],
    lang: Annotated[Optional[str], typer.Option(help="Language of the pipeline's tokenizer; default the model's.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Pipeline name in its meta.json (spacy package calls it <lang>_<name>); default the model folder's name.")] = None,
    version: Annotated[str, typer.Option(help="Pipeline version in its meta.json.")] = "0.0.0",
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT_DIR if it exists.")] = False,
) -> None:
    """Write a spaCy pipeline (tokenizer + birnn_tagger with the model inside) that spacy.load reads."""
    from tagger.spacy.export import export_pipeline

    try:
        path = export_pipeline(model, output_dir, lang, name, version, overwrite)
    except TaggerError as error:
        _fail(error)
        return
    console.print(f"wrote a spaCy pipeline to {path}: spacy.load({str(path)!r})")


def _service_options(command: Any) -> Any:
    """``command`` with its ``**options`` replaced by one option per service setting: flag, default,
    range and help from ``tagger.service.settings``, as serve.py has them."""
    import inspect

    from tagger.service.settings import options

    signature = inspect.signature(command, eval_str=True)
    fixed = [parameter for parameter in signature.parameters.values() if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    generated = []
    for option in options():
        kind = Optional[option.kind] if option.optional else option.kind
        declared = typer.Option(option.flag, min=option.low, max=option.high, parser=option.parse, help=escape(option.help),
                                show_default=option.shown or True)
        generated.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=option.default,
                                           annotation=Annotated[kind, declared]))  # type: ignore[valid-type]
    command.__signature__ = signature.replace(parameters=[*fixed, *generated])
    return command


@app.command()
@_service_options
def serve(model: Annotated[Path, typer.Argument(help="A model directory (fixed for the life of the service).")], **options: Any) -> None:
    """Run the HTTP service (as serve.py): /annotate, /fill-mask, /health, /info, docs at /docs."""
    import uvicorn

    from tagger.service import ServiceSettings, create_app

    settings = ServiceSettings(**options)
    try:
        application = create_app(model, settings)
    except (TaggerError, ValueError) as error:  # ValueError: a limit out of range
        _fail(error)
        return
    uvicorn.run(application, host=settings.host, port=settings.port)


@app.command()
def info(model: Annotated[Path, typer.Argument(help="A model directory.")]) -> None:
    """What a model is: tasks, labels, sizes, training corpora and recorded scores."""
    from tagger.serialize import describe

    try:
        described = describe(model)
    except (TaggerError, OSError) as error:
        _fail(error)
        return
    config, meta = described.config, described.meta
    table = Table(title=f"{model}", show_header=False)
    table.add_column("key")
    table.add_column("value")
    encoder, embeddings = config.encoder, config.embeddings
    table.add_row("encoder", f"{encoder.num_layers}-layer bidirectional {encoder.kind.upper()}, hidden {encoder.hidden_size} per direction")
    table.add_row("embeddings", f"words {described.words} x {embeddings.word_dim}, chars {described.chars} ({embeddings.char_encoder})")
    table.add_row("parameters", f"{meta.get('parameters', 0):,}")
    vectors = meta.get("vectors")
    if vectors:
        table.add_row("vectors", f"{vectors['source']} ({vectors['dim']}-d{', frozen' if vectors.get('frozen') else ''}): "
                      f"{vectors['words_with_vectors']:,} words start from one; {100 * vectors['training_tokens']:.1f}% of "
                      f"training tokens, {100 * vectors['training_types']:.1f}% of forms")
    for task, spec in described.tasks.items():
        kind = spec.decoder + (f", {spec.scheme} spans" if spec.is_span else "")
        labels = spec.labels
        table.add_row(f"task {task}", f"{kind}; {len(labels)} labels: {' '.join(labels[:40])}{' ...' if len(labels) > 40 else ''}")
    for split, paths in meta.get("corpora", {}).items():
        table.add_row(f"corpus {split}", ", ".join(paths))
    training = meta.get("training", {})
    if training:
        unfinished = "" if described.finished else "[bold red]UNFINISHED[/]: stopped before its end, the best epoch so far; "
        table.add_row("training", unfinished + ", ".join(f"{k} {v}" for k, v in training.items() if k != "finished"))
    if "sha256" in meta:
        table.add_row("files", f"sha256 of {', '.join(meta['sha256'])} match meta.json")
    for split, scores in described.scores.items():
        for task, values in scores.items():
            shown = ", ".join(f"{m} {100 * values[m]:.2f}" for m in ("accuracy", "precision", "recall", "f1") if m in values)
            table.add_row(f"{split} {task}", shown)
    seeds = meta.get("seeds")
    if seeds:
        for split, tasks in seeds["summary"].items():
            for task, value in tasks.items():
                table.add_row(f"{split} {task} over seeds", f"{100 * value['mean']:.2f} ± {100 * value['sd']:.2f} "
                              f"({len(seeds['runs'])} seeds; this is seed {seeds['chosen']}, the best by dev)")
    table.add_row("created", f"{meta.get('created', '?')} with {json.dumps(meta.get('versions', {}))}")
    out.print(table)


if __name__ == "__main__":
    app()
