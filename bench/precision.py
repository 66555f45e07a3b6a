"""Lower precision for CPU inference: is it faster, and what does it cost in accuracy?

    source .venv/bin/activate
    pip install onnx onnxruntime onnxscript torchao   # tried with onnx 1.23.2, onnxruntime 1.32.0, onnxscript 0.7.2,
                                                      # torchao 0.18.0 (needs torch >= 2.11); none touches torch
    python bench/precision.py                         # ~10 minutes on 2 cores (9.5 at load 3-3.5)
    python bench/precision.py --repeats 1 --skip-full # a quick look at the bare encoder only (~2 minutes)

Each extra is optional: the trials that need one are reported as not run without it. Other flags:
``--wall`` (2-thread wall-clock whatever the load), ``--force-bf16``, ``--apply OPTION ...`` with
``--full-only`` (full-model trials of chosen options only).

Needs the EWT test file (``../shared/corpora/ud-en-ewt/en_ewt-ud-test.conllu``) and, for part 2,
the trained models ``models/ud-en-ewt-upos`` and ``models/uner-en-ewt-ner``. Scratch files (ONNX
exports) go to ``--scratch`` (default: a temporary folder).

1. The bare word encoder at our sizes (2-layer bidirectional LSTM, input 200, hidden 256 per
   direction, with the UPOS model's trained weights when it is there) on random pre-embedded input
   with the EWT test sentence lengths, batched as ``Tagger.label_sentences`` does (sorted by length,
   <= 256 sentences and <= 2048 padded tokens a batch):
   a. fp32 ``nn.LSTM`` on packed batches (what ``BiRNNEncoder`` runs in eval mode);
   b. ``torch.ao.quantization.quantize_dynamic``: int8 weights (and fp16 weights) of that LSTM;
   c. bf16 (``.to(torch.bfloat16)``), only on CPUs with native bf16 (avx512_bf16 / amx_bf16)
      unless ``--force-bf16``;
   d. torchao: ``quantize_`` only rewrites ``nn.Linear`` weights, so it leaves the LSTM as it is;
      measured instead on Linear layers of the LSTM's input-projection shape, the best case for
      an encoder rewritten around torchao-quantized Linears;
   e. ONNX Runtime (CPUExecutionProvider): the LSTM exported with ``torch.onnx.export`` (padded,
      dynamic batch and sequence axes), its LSTM nodes given ``sequence_lens`` (the exporter
      leaves that input empty), fp32 and ``onnxruntime.quantization.quantize_dynamic`` QInt8 /
      QUInt8 weights.
   Speed is words per CPU second with one thread (``time.process_time``, best of ``--repeats``):
   robust on a shared, loaded machine. Wall-clock with two threads is added when the 1-minute
   load average is below ``--max-load`` (or with ``--wall``).
2. Options at least ``--min-gain`` faster than fp32 on the bare encoder are applied to the full
   trained models (the encoder's eval-mode ``_packed`` replaced on the loaded Tagger) and measured
   end to end: words/s of ``Tagger.label_sentences(sentences, 256)`` on the pre-tokenized EWT test
   set, and test scores (UPOS/XPOS accuracy vs gold, NER span F1 with seqeval on UNER EWT test).
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

warnings.filterwarnings("ignore")  # torch.ao.quantization and the TorchScript ONNX exporter are deprecated: we know
logging.getLogger("torchao").setLevel(logging.ERROR)

ROOT = Path(__file__).resolve().parent.parent
EWT_TEST = ROOT.parent / "shared" / "corpora" / "ud-en-ewt" / "en_ewt-ud-test.conllu"
MODELS = {"UPOS": ROOT / "models" / "ud-en-ewt-upos", "NER+UPOS": ROOT / "models" / "uner-en-ewt-ner"}
INPUT, HIDDEN, LAYERS = 200, 256, 2
BATCH_SIZE, MAX_TOKENS = 256, 2048

Encoder = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # [batch, seq, input], lengths -> [batch, seq, 2 * hidden]
console = Console(width=180)


# --- data ---------------------------------------------------------------------------------------

def conllu_lengths(path: Path) -> list[int]:
    """Tokens per sentence (syntactic words: multiword 'n-m' and empty 'n.m' lines skipped)."""
    lengths, count = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if count:
                lengths.append(count)
            count = 0
        elif not line.startswith("#"):
            word_id = line.split("\t", 1)[0]
            count += "-" not in word_id and "." not in word_id
    if count:
        lengths.append(count)
    return lengths


def random_batches(lengths: list[int], seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random pre-embedded batches (zero padding) cut as label_sentences cuts them."""
    from tagger.core.batching import sorted_batches

    generator = torch.Generator().manual_seed(seed)
    batches = []
    for positions in sorted_batches(lengths, BATCH_SIZE, MAX_TOKENS):
        sizes = torch.tensor([lengths[p] for p in positions])
        inputs = torch.randn(len(positions), int(sizes.max()), INPUT, generator=generator) * 0.5
        inputs *= (torch.arange(inputs.shape[1])[None, :] < sizes[:, None])[..., None]
        batches.append((inputs, sizes))
    return batches


# --- encoders -----------------------------------------------------------------------------------

def stacked_lstm(encoder: Any = None) -> nn.LSTM:
    """A real stacked bidirectional nn.LSTM: with a BiRNNEncoder's weights (``stacked_weights``, the
    mapping its back ends use), else freshly initialised."""
    lstm = nn.LSTM(INPUT, HIDDEN, num_layers=LAYERS, bidirectional=True, batch_first=True)
    if encoder is not None:
        lstm.load_state_dict({name: parameter.detach().clone() for name, parameter in encoder.stacked_weights().items()})
    return lstm.eval()


def packed_runner(lstm: nn.Module, dtype: torch.dtype = torch.float32) -> Encoder:
    def run(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(inputs.to(dtype), lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        states, _ = lstm(packed)
        return pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])[0].float()
    return run


def torch_dynamic(lstm: nn.LSTM, dtype: torch.dtype, per_channel: bool = False) -> nn.Module:
    """quantize_dynamic swaps submodules only: wrap the LSTM so that it is one."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec: Any = {nn.LSTM: per_channel_dynamic_qconfig} if per_channel else {nn.LSTM}
    return quantize_dynamic(nn.ModuleDict({"lstm": copy.deepcopy(lstm)}), spec, dtype=dtype)["lstm"]


def native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def onnx_export(lstm: nn.LSTM, path: Path) -> Path:
    """The padded LSTM as ONNX, with every LSTM node reading the ``lengths`` graph input as
    sequence_lens: what ``--precision int8`` ships (``tagger.nn.onnx_encoder.export_lstm``)."""
    from tagger.nn.onnx_encoder import export_lstm

    return export_lstm(lstm, path)


def onnx_quantize(source: Path, kind: str) -> Path:
    """``kind``: QInt8 or QUInt8, then ``-pc`` for per-channel weights, ``-l1``/``-l2`` to quantize
    only that layer's LSTM node. (onnxruntime's LSTM quantizer stores LSTM weights as int8 whatever
    ``weight_type`` says, so QInt8 and QUInt8 should come out the same.)"""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # its "consider pre-processing" advice, at every call
    weight_type, *flags = kind.split("-")
    lstm_nodes = [n.name for n in onnx.load(str(source)).graph.node if n.op_type == "LSTM"]
    keep = [int(f[1:]) - 1 for f in flags if f.startswith("l")]
    target = source.with_name(f"{source.stem}-{kind.lower()}.onnx")
    quantize_dynamic(str(source), str(target), weight_type=getattr(QuantType, weight_type), per_channel="pc" in flags,
                     nodes_to_exclude=[name for i, name in enumerate(lstm_nodes) if keep and i not in keep])
    return target


def ort_runner(path: Path, threads: int) -> Encoder:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # spinning would count as CPU time
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(inputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feed = {"inputs": inputs.float().contiguous().numpy(), "lengths": lengths.clamp(min=1).to(torch.int32).numpy()}
        return torch.from_numpy(session.run(None, feed)[0])
    return run


# --- timing -------------------------------------------------------------------------------------

def interleaved(works: dict[str, Callable[[], Any]], repeats: int, clock: Callable[[], float]) -> tuple[dict[str, float], float]:
    """Best time of each work over ``repeats`` rounds, each round running every work once (after one
    warm-up round): load that drifts on a shared machine then hits every option alike. Also the mean
    1-minute load average over the rounds."""
    for work in works.values():
        work()
    best = dict.fromkeys(works, float("inf"))
    loads = []
    for _ in range(repeats):
        for name, work in works.items():
            start = clock()
            work()
            best[name] = min(best[name], clock() - start)
        loads.append(os.getloadavg()[0])
    return best, sum(loads) / len(loads)


def timed(work: Callable[[], Any], repeats: int, clock: Callable[[], float]) -> float:
    """Best of ``repeats`` runs of ``work``, after one warm-up run."""
    work()
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        work()
        best = min(best, clock() - start)
    return best


def encoder_pass(run: Encoder, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [run(inputs, lengths) for inputs, lengths in batches]


def output_error(outputs: list[torch.Tensor], reference: list[torch.Tensor], batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[float, float]:
    """Largest and mean absolute difference from the fp32 states over real (non-padding) tokens."""
    worst, total, count = 0.0, 0.0, 0
    for out, ref, (inputs, lengths) in zip(outputs, reference, batches):
        mask = torch.arange(inputs.shape[1])[None, :] < lengths[:, None]
        diff = (out.float() - ref)[mask].abs()
        worst, total, count = max(worst, float(diff.max())), total + float(diff.sum()), count + diff.numel()
    return worst, total / count


# --- part 1: the bare encoder -------------------------------------------------------------------

Factory = Callable[[nn.LSTM, int], Encoder]  # fp32 stacked LSTM, threads -> the option's encoder


def make_factories(args: argparse.Namespace, scratch: Path) -> tuple[dict[str, Factory], list[tuple[str, str]]]:
    """Every option this machine can run, as a factory; and the options skipped, with the reason."""
    factories: dict[str, Callable[[nn.LSTM, int], Encoder]] = {
        "torch fp32 (packed)": lambda m, t: packed_runner(m),
        "torch int8 dynamic": lambda m, t: packed_runner(torch_dynamic(m, torch.qint8)),
        "torch int8 dynamic per-channel": lambda m, t: packed_runner(torch_dynamic(m, torch.qint8, per_channel=True)),
        "torch fp16-weight dynamic": lambda m, t: packed_runner(torch_dynamic(m, torch.float16)),
    }
    skipped: list[tuple[str, str]] = []
    if native_bf16() or args.force_bf16:
        factories["torch bf16"] = lambda m, t: packed_runner(copy.deepcopy(m).to(torch.bfloat16), torch.bfloat16)
    else:
        skipped.append(("torch bf16", "no avx512_bf16/amx_bf16 on this CPU: bf16 is emulated (~7x slower in a probe); --force-bf16 to measure"))
    try:
        import onnxruntime  # noqa: F401

        # (id of the fp32 LSTM, kind) -> (that LSTM, kept alive so that its id is not reused; its .onnx file)
        exports: dict[tuple[int, str], tuple[nn.LSTM, Path]] = {}

        def ort_factory(kind: str) -> Factory:
            def build(m: nn.LSTM, threads: int) -> Encoder:
                if (id(m), kind) not in exports:
                    if (id(m), "fp32") not in exports:
                        exports[(id(m), "fp32")] = (m, onnx_export(m, scratch / f"encoder-{len(exports)}.onnx"))
                    plain = exports[(id(m), "fp32")][1]
                    exports[(id(m), kind)] = (m, plain if kind == "fp32" else onnx_quantize(plain, kind))
                return ort_runner(exports[(id(m), kind)][1], threads)
            return build

        for name in ("ORT fp32", "ORT int8 QInt8", "ORT int8 QUInt8", "ORT int8 QInt8-pc", "ORT int8 QInt8-l1", "ORT int8 QInt8-l2",
                     "ORT int8 QInt8-pc-l2"):
            factories[name] = ort_factory(name.split()[-1])
    except ImportError as error:
        skipped.append(("ONNX Runtime", f"not installed ({error.name})"))
    return factories, skipped


def encoder_trials(args: argparse.Namespace, lstm: nn.LSTM, factories: dict[str, Factory], skipped: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Measure every option on the bare encoder."""
    lengths = conllu_lengths(args.test)
    words = sum(lengths)
    batches = random_batches(lengths)
    console.print(f"EWT test: {len(lengths)} sentences, {words} words, {len(batches)} batches "
                  f"(<= {BATCH_SIZE} sentences, <= {MAX_TOKENS} padded tokens)")
    torch.set_num_threads(1)
    runs = {name: factory(lstm, 1) for name, factory in factories.items()}
    reference = encoder_pass(runs["torch fp32 (packed)"], batches)
    rows: list[dict[str, Any]] = []
    outputs: dict[str, list[torch.Tensor]] = {}
    for name, run in runs.items():
        outputs[name] = encoder_pass(run, batches)
        error, mean_error = output_error(outputs[name], reference, batches)
        row = {"option": name, "error": error, "mean_error": mean_error}
        same = next((other for other in outputs if other != name and all(map(torch.equal, outputs[other], outputs[name]))), None)
        if same:
            row["same_as"] = same  # bit-identical states: not worth a full-model trial of its own
        rows.append(row)
    seconds, load = interleaved({name: (lambda r=run: encoder_pass(r, batches)) for name, run in runs.items()}, args.repeats, time.process_time)
    for row in rows:
        row["cpu_s"], row["wps"] = seconds[row["option"]], words / seconds[row["option"]]
        console.print(f"  {row['option']}: {row['cpu_s']:.2f} CPU s, {row['wps']:,.0f} words/s, "
                      f"|diff| max {row['error']:.2g} mean {row['mean_error']:.2g}")
    console.print(f"  (1 thread, CPU time: mean 1-minute load average {load:.1f} during the rounds)")
    load = os.getloadavg()[0]
    if args.wall or load < args.max_load:
        torch.set_num_threads(2)
        runs = {name: factory(lstm, 2) for name, factory in factories.items()}
        seconds, load = interleaved({name: (lambda r=run: encoder_pass(r, batches)) for name, run in runs.items()}, args.repeats, time.perf_counter)
        for row in rows:
            row["wall_wps"] = words / seconds[row["option"]]
        console.print(f"  (2 threads, wall-clock: mean 1-minute load average {load:.1f} during the rounds)")
        torch.set_num_threads(1)
    else:
        console.print(f"  (2-thread wall-clock skipped: 1-minute load average {load:.1f} >= {args.max_load})")
    base = rows[0]["wps"]
    for row in rows:
        row["speedup"] = row["wps"] / base
    rows.extend({"option": name, "skipped": reason} for name, reason in skipped)
    return rows


def torchao_trials(args: argparse.Namespace, lstm: nn.LSTM) -> list[dict[str, Any]]:
    """torchao on the LSTM (nothing to do) and on Linears of its input-projection shapes."""
    try:
        import torchao.quantization as tq
    except ImportError as error:
        return [{"option": "torchao", "skipped": f"not installed ({error.name})"}]
    container = nn.ModuleDict({"lstm": copy.deepcopy(lstm)})
    before = {n: type(p).__name__ for n, p in container.named_parameters()}
    tq.quantize_(container, tq.Int8WeightOnlyConfig())
    changed = sum(type(p).__name__ != before[n] for n, p in container.named_parameters())
    rows: list[dict[str, Any]] = [{"option": "torchao quantize_ on nn.LSTM", "skipped": f"{changed} of {len(before)} LSTM weights changed: quantize_ rewrites nn.Linear only"}]
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    tokens = MAX_TOKENS  # one full batch of tokens through both layers' input projections (4 gates x 2 directions)
    inputs = [torch.randn(tokens, size, generator=generator) for size in (INPUT, 2 * HIDDEN)]
    base = nn.ModuleList(nn.Linear(size, 8 * HIDDEN) for size in (INPUT, 2 * HIDDEN)).eval()

    def project(model: nn.ModuleList) -> list[torch.Tensor]:
        with torch.inference_mode():
            return [linear(x) for linear, x in zip(model, inputs)]

    reference = project(base)
    base_s = timed(lambda: [project(base) for _ in range(5)], args.repeats, time.process_time)
    rows.append({"option": "torchao: fp32 Linear", "wps": 5 * tokens / base_s, "speedup": 1.0, "error": 0.0, "mean_error": 0.0})
    configs = ["Int8WeightOnlyConfig", "IntxWeightOnlyConfig", "Int8DynamicActivationIntxWeightConfig",
               "Int8DynamicActivationInt8WeightConfig", "Float8WeightOnlyConfig", "Int4WeightOnlyConfig",
               "Float8DynamicActivationFloat8WeightConfig"]
    for name in configs:
        label = f"torchao: {name.removesuffix('Config')} Linear"
        if not hasattr(tq, name):
            rows.append({"option": label, "skipped": "not in this torchao"})
            continue
        model = copy.deepcopy(base)
        try:
            kwargs: dict[str, Any] = {}
            if name == "Int8DynamicActivationIntxWeightConfig":  # default PerGroup(32) does not divide 200
                from torchao.quantization.granularity import PerAxis
                kwargs["weight_granularity"] = PerAxis(0)
            tq.quantize_(model, getattr(tq, name)(**kwargs))
            first = time.process_time()
            out = project(model)
            once = time.process_time() - first
            repeats = 1 if once > 10 * base_s / 5 else 5  # the slow fallbacks: once is enough to see it
            seconds = timed(lambda: [project(model) for _ in range(repeats)], 1 if repeats == 1 else args.repeats, time.process_time) / repeats
        except Exception as error:  # noqa: BLE001 - report whatever the config refuses with
            rows.append({"option": label, "skipped": f"{type(error).__name__}: {str(error).splitlines()[0][:90]}"})
            continue
        error = max(float((o - r).abs().max()) for o, r in zip(out, reference))
        mean_error = sum(float((o - r).abs().mean()) for o, r in zip(out, reference)) / len(out)
        rows.append({"option": label, "wps": tokens / seconds, "speedup": base_s / 5 / seconds, "error": error, "mean_error": mean_error})
    return rows


# --- part 2: full models ------------------------------------------------------------------------

def full_model_trials(args: argparse.Namespace, options: list[str], factories: dict[str, Factory]) -> list[dict[str, Any]]:
    from tagger.analysis.evaluation import score
    from tagger.core.config import SourceConfig
    from tagger.core.types import Sentence
    from tagger.data import load_sentences
    from tagger.model.predict import Tagger

    torch.set_num_threads(1)
    rows = []
    for model_name, directory in MODELS.items():
        if not directory.exists():
            console.print(f"[yellow]{directory} not found: skipped")
            continue
        tagger = Tagger.load(directory)
        encoder = tagger.model.encoder
        if (encoder.input_size, encoder.output_dim, len(encoder.layers)) != (INPUT, 2 * HIDDEN, LAYERS):
            console.print(f"[yellow]{directory}: encoder sizes differ from the benchmark's; measured anyway")
        spans = any(spec.is_span for spec in tagger.task_specs.values())
        golds = {(corpus, split): load_sentences([SourceConfig(path=f"{corpus}:{split}")], tagger.config.tasks)
                 for split in ("test", "dev") for corpus in ("ud-en-ewt", "uner-en-ewt") if corpus == "ud-en-ewt" or spans}
        inputs = {key: [Sentence(list(s.tokens)) for s in gold] for key, gold in golds.items()}
        timing_input = inputs[("ud-en-ewt", "test")]
        words = sum(len(s) for s in timing_input)
        lstm = stacked_lstm(encoder)
        original = encoder._packed
        encoders: dict[str, Encoder] = {"torch fp32 (as shipped)": original}
        encoders.update({option: factories[option](lstm, 1) for option in options})

        def using(option: str) -> None:
            encoder._packed = encoders[option]  # an instance attribute: shadows the method for this Tagger only

        # fp32's encoder share of the time
        spent = [0.0]

        def counting(inputs_: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            start = time.process_time()
            try:
                return original(inputs_, lengths)
            finally:
                spent[0] += time.process_time() - start

        encoder._packed = counting
        start = time.process_time()
        tagger.label_sentences(timing_input, BATCH_SIZE)
        share = spent[0] / (time.process_time() - start)

        model_rows = []
        for option in encoders:
            using(option)
            metrics: dict[str, dict[str, float]] = {"test": {}, "dev": {}}
            for (corpus, split), gold in golds.items():
                found = score(gold, tagger.label_sentences(inputs[(corpus, split)], BATCH_SIZE), tagger.task_specs)
                for task, task_scores in found.items():
                    if (corpus == "uner-en-ewt") == tagger.task_specs[task].is_span:
                        metrics[split][task] = 100 * task_scores.headline
            model_rows.append({"model": model_name, "option": option, "metrics": metrics["test"], "dev": metrics["dev"]})

        def pass_with(option: str) -> Callable[[], Any]:
            def work() -> Any:
                using(option)
                return tagger.label_sentences(timing_input, BATCH_SIZE)
            return work

        seconds, load = interleaved({option: pass_with(option) for option in encoders}, args.repeats, time.process_time)
        del encoder._packed
        base = model_rows[0]
        base["encoder_share"] = share
        for row in model_rows:
            row["wps"] = words / seconds[row["option"]]
            row["speedup"] = row["wps"] / (words / seconds[base["option"]])
            row["delta"] = {task: value - base["metrics"][task] for task, value in row["metrics"].items()}
            row["dev_delta"] = {task: value - base["dev"][task] for task, value in row["dev"].items()}
            console.print(f"  {model_name} {row['option']}: {row['wps']:,.0f} words/s (x{row['speedup']:.2f}), test {row['metrics']}, dev {row['dev']}")
        console.print(f"  ({model_name}: encoder {100 * share:.0f}% of fp32 time; mean 1-minute load average {load:.1f} during the rounds)")
        rows.extend(model_rows)
    return rows


# --- report -------------------------------------------------------------------------------------

def print_encoder_table(rows: list[dict[str, Any]], title: str, unit: str) -> None:
    table = Table(title=title)
    for column in ("option", unit, "speed-up vs fp32", "2 threads wall words/s", "|diff| vs fp32: max / mean", "note"):
        table.add_column(column, justify="left" if column in ("option", "note") else "right")
    for row in rows:
        if "skipped" in row:
            table.add_row(row["option"], "-", "-", "-", "-", f"not run: {row['skipped']}")
            continue
        wall = f"{row['wall_wps']:,.0f}" if "wall_wps" in row else "-"
        note = f"states bit-identical to {row['same_as']}" if "same_as" in row else ""
        table.add_row(row["option"], f"{row['wps']:,.0f}", f"x{row['speedup']:.2f}", wall, f"{row['error']:.2g} / {row['mean_error']:.2g}", note)
    console.print(table)


def print_full_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title="Full models: words/s of Tagger.label_sentences(EWT test, 256), 1 thread, CPU-time basis; "
                        "scores: UPOS/XPOS accuracy, NER span F1 (UNER)")
    left = ("model", "option", "scores (test)", "test delta (points)", "dev delta (points)")
    for column in ("model", "option", "words/s", "speed-up", *left[2:]):
        table.add_column(column, justify="left" if column in left else "right")
    for row in rows:
        scores = ", ".join(f"{task} {value:.2f}" for task, value in row["metrics"].items())
        if "encoder_share" in row:
            speedup, delta, dev_delta = f"x1.00 (encoder {100 * row['encoder_share']:.0f}% of time)", "-", "-"
        else:
            speedup = f"x{row['speedup']:.2f}"
            delta, dev_delta = (", ".join(f"{task} {value:+.2f}" for task, value in row[key].items()) for key in ("delta", "dev_delta"))
        table.add_row(row["model"], row["option"], f"{row['wps']:,.0f}", speedup, scores, delta, dev_delta)
    console.print(table)


def print_bare_tables(args: argparse.Namespace, rows: list[dict[str, Any]], lstm: nn.LSTM) -> None:
    print_encoder_table(rows, "Bare encoder (2x BiLSTM 200->256) on EWT test lengths: words per CPU second, 1 thread, best of "
                        f"{args.repeats}", "words/s (1 thread, CPU time)")
    ao_rows = torchao_trials(args, lstm)
    print_encoder_table(ao_rows, "torchao on Linear layers of the LSTM's input-projection shapes (2048 tokens x [200, 512] -> 2048): "
                        "tokens per CPU second", "tokens/s (1 thread, CPU time)")
    console.print(f"load average after part 1: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", type=Path, default=EWT_TEST, help="CoNLL-U file whose sentence lengths shape the batches")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (best is kept)")
    parser.add_argument("--min-gain", type=float, default=1.10, help="bare-encoder speed-up an option needs to be tried on the full models")
    parser.add_argument("--max-load", type=float, default=2.0, help="measure 2-thread wall-clock only below this 1-minute load average")
    parser.add_argument("--wall", action="store_true", help="measure 2-thread wall-clock whatever the load")
    parser.add_argument("--force-bf16", action="store_true", help="measure bf16 even without native bf16 support")
    parser.add_argument("--apply", nargs="*", default=None, help="options to try on the full models (default: those passing --min-gain)")
    parser.add_argument("--skip-full", action="store_true", help="bare encoder only")
    parser.add_argument("--full-only", action="store_true", help="full models only, with the options of --apply")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for ONNX exports (default: a temporary one)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    shared = ROOT.parent / "shared" / "corpora"
    if "BIRNN_TAGGER_DATA" not in os.environ and shared.is_dir():
        os.environ["BIRNN_TAGGER_DATA"] = str(shared)  # the catalogue corpora, from the shared copy
    console.print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
                  f"native bf16: {native_bf16()}, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    scratch_holder = None
    if args.scratch is None:
        scratch_holder = tempfile.TemporaryDirectory(prefix="precision-")
        args.scratch = Path(scratch_holder.name)
    args.scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    trained = None
    if MODELS["UPOS"].exists():
        from tagger.model.predict import Tagger
        trained = Tagger.load(MODELS["UPOS"]).model.encoder
    lstm = stacked_lstm(trained)
    factories, skipped = make_factories(args, args.scratch)
    if args.full_only:
        rows = []
    else:
        console.rule("1. bare encoder")
        rows = encoder_trials(args, lstm, factories, skipped)
        print_bare_tables(args, rows, lstm)

    if not args.skip_full:
        options = args.apply if args.apply is not None else [r["option"] for r in rows[1:] if r.get("speedup", 0) >= args.min_gain and "same_as" not in r]
        console.rule(f"2. full models: {', '.join(options) or 'fp32 only (no option passed --min-gain)'}")
        full_rows = full_model_trials(args, options, factories)
        if full_rows:
            print_full_table(full_rows)
    console.print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
                  f"{time.perf_counter() - started:.0f} s in all")
    if scratch_holder is not None:
        scratch_holder.cleanup()


if __name__ == "__main__":
    main()
