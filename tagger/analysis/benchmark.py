"""Inference speed of a model over a sweep of precisions, thread counts and batch sizes (``tagger benchmark``).

Each row of the sweep labels the whole corpus ``warmup`` times untimed, then ``passes`` times timed
(wall clock), calling :meth:`Tagger.label_sentences` with ``batch_size`` sentences at a time on
pre-tokenized sentences: tokenization is done once, before any row, and never timed. A precision's
back end is set (``Tagger.set_precision``: for int8, an ONNX export, quantized) once per thread
count and reused across batch sizes: an ONNX Runtime session's intra-op threads are fixed when it opens.

Nothing here prints: :func:`run_sweep` returns :class:`Row` objects, ``tagger.cli.benchmark`` shows them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from tagger.core.config import BatchSize, Range, check_settings
from tagger.core.errors import ConfigError, InputError, TaggerError
from tagger.core.types import PRECISIONS, QUANTIZED, Precision, Prediction, Sentence

if TYPE_CHECKING:
    from tagger.model.predict import Tagger

# Two-sided 95% Student t quantiles by degrees of freedom (df 1-30, then 40, 60, 120); beyond: the normal 1.96.
T_95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086,
        21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042,
        40: 2.021, 60: 2.000, 120: 1.980}
Progress = Callable[[str, int], None]  # (what runs now, passes just done)


class SweepOptionError(InputError):
    """A sweep option that cannot be run, named as the option it is (``batch_sizes``, ``threads`` ...)."""

    def __init__(self, option: str, reason: str) -> None:
        self.option = option
        self.reason = reason
        super().__init__(f"{option}: {reason}")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_threads() -> tuple[int, ...]:
    """1 and every usable core: the two ends of the range."""
    return tuple(sorted({1, usable_cores()}))


@dataclass(frozen=True)
class SweepOptions:
    """What to sweep. Raises :class:`SweepOptionError` for a value that cannot be run."""

    batch_sizes: tuple[BatchSize, ...] = (1, 32, 256)  # sentences per label_sentences call (RunOptions' batch sizes)
    precisions: tuple[Precision, ...] = PRECISIONS
    threads: tuple[int, ...] = field(default_factory=default_threads)  # torch (and ONNX Runtime intra-op) threads
    warmup: Annotated[int, Range(0)] = 1  # untimed passes over the corpus per row
    passes: Annotated[int, Range(1)] = 5  # timed passes over the corpus per row

    def __post_init__(self) -> None:
        try:
            check_settings(self)  # each value as RunOptions checks it
        except ConfigError as error:
            raise SweepOptionError(error.key.split("[")[0], error.reason) from None
        cores = usable_cores()
        for option in ("batch_sizes", "precisions", "threads"):
            _check_list(option, getattr(self, option))
        if outside := [t for t in self.threads if not 1 <= t <= cores]:
            raise SweepOptionError("threads", f"{outside[0]!r} threads: choose 1 to {cores} (the cores this process may use)")

    @property
    def rows(self) -> int:
        return len(self.precisions) * len(self.threads) * len(self.batch_sizes)

    @property
    def steps(self) -> int:
        """Passes over the corpus in the whole sweep (what a progress bar counts)."""
        return self.rows * (self.warmup + self.passes)


def _check_list(option: str, values: Sequence[Any]) -> None:
    """A sweep's list: at least one value, each once."""
    if not values:
        raise SweepOptionError(option, "give at least one value")
    repeated = [v for n, v in enumerate(values) if v in values[:n]]
    if repeated:
        raise SweepOptionError(option, f"{repeated[0]!r} is given twice")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class Row:
    """One point of the sweep. ``skipped`` (the reason) is set when it could not run; the figures are None then.

    ``peak_rss_mib`` is the resident-set high-water mark while the row ran when ``peak_scope`` is
    ``row`` (Linux: reset through /proc/self/clear_refs), else the process's peak so far (``process``).
    ``agreement``: for int8 rows, the share of tokens whose labels (every task's) are fp32's.
    """

    precision: str
    threads: int
    batch_size: int
    sentences: int  # per pass
    words: int  # per pass
    words_per_s: float | None = None  # mean over the timed passes
    words_per_s_ci95: Interval | None = None  # Student t over the passes; None with one pass
    sentences_per_s: float | None = None
    batch_ms_p50: float | None = None  # per label_sentences call, over every call of the timed passes
    batch_ms_p95: float | None = None
    peak_rss_mib: float | None = None
    peak_scope: str | None = None  # "row" or "process"
    agreement: float | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int  # the machine's logical CPUs
    usable_cores: int  # those this process may run on
    load_average: tuple[float, float, float] | None  # 1, 5, 15 minutes, when the sweep started
    python: str
    torch: str
    onnxruntime: str | None  # None: not installed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def machine() -> Machine:
    """What the numbers were measured on."""
    import torch

    try:
        from importlib.metadata import PackageNotFoundError, version

        onnxruntime: str | None = version("onnxruntime")
    except PackageNotFoundError:
        onnxruntime = None
    try:
        load: tuple[float, float, float] | None = os.getloadavg()
    except OSError:
        load = None
    return Machine(cpu_model(), os.cpu_count() or 1, usable_cores(), load, platform.python_version(), torch.__version__, onnxruntime)


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (Linux), else what ``platform`` says."""
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"), re.MULTILINE)
    except OSError:
        match = None
    return match.group(1).strip() if match else (platform.processor() or platform.machine() or "unknown")


# --- the corpus ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Corpus:
    name: str
    sentences: list[Sentence]  # tokens only: what is timed is labelling, not reading or tokenizing

    @property
    def words(self) -> int:
        return sum(len(s) for s in self.sentences)


def load_corpus(tagger: Tagger, corpus: str | None = None, fmt: str | None = None, limit: int = 0) -> Corpus:
    """The sentences to time: ``corpus`` (a file or catalogue name, as ``tagger evaluate`` reads it;
    raw text is tokenized here, once), or the model's own test corpus (``data.test`` of its config).
    ``limit``: the first that many sentences (0: all). Raises TaggerError naming what is missing."""
    from tagger.data import load_corpus, load_sentences

    if corpus is None:
        sources = list(tagger.config.data.test)
        if not sources:
            raise TaggerError(f"{tagger.info.name}: its config names no test corpus (data.test is empty): give a CORPUS to benchmark on")
        name = ", ".join(s.name for s in sources)
        read = load_sentences(sources, tagger.config.tasks, limit)
    else:
        name, read = corpus, load_corpus(corpus, fmt, tagger.config, limit)
    sentences = [Sentence(list(s.tokens), meta=dict(s.meta)) for s in tagger.tokenizer.tokenize(read)]
    sentences = [s for s in sentences if s.tokens]
    if not sentences:
        raise TaggerError(f"{name}: no sentence with tokens to label")
    return Corpus(name, sentences)


# --- measuring ----------------------------------------------------------------------------------

def run_sweep(tagger: Tagger, corpus: Corpus, options: SweepOptions, progress: Progress | None = None) -> list[Row]:
    """Every (precision, threads, batch size) row of ``options``, in that order. An int8 precision
    this model or machine cannot run (a GRU encoder, no onnxruntime) gives rows with ``skipped`` set.
    Each row runs as its RunOptions say (the Tagger's, with the row's precision and threads); the
    torch thread count and the Tagger's run options are restored afterwards."""
    import torch

    tell = progress or (lambda what, steps: None)
    threads_before, run_before = torch.get_num_threads(), tagger.run
    reference: list[list[tuple[str, ...]]] | None = None
    rows: list[Row] = []
    try:
        for precision in options.precisions:
            if precision in QUANTIZED and reference is None:  # what the int8 rows' labels are compared with
                tagger.set_run_options(dataclasses.replace(run_before, precision="fp32"))
                reference = _labels(_one_pass(tagger, corpus.sentences, max(options.batch_sizes))[1])
            for threads in options.threads:
                try:  # an int8 encoder's ONNX Runtime session is opened with the row's threads
                    tagger.set_run_options(dataclasses.replace(run_before, precision=precision, threads=threads))
                except TaggerError as error:
                    for batch_size in options.batch_sizes:
                        rows.append(Row(precision, threads, batch_size, len(corpus.sentences), corpus.words, skipped=str(error)))
                        tell(f"{precision}: skipped", options.warmup + options.passes)
                    continue
                for batch_size in options.batch_sizes:
                    what = f"{precision}, {threads} thread{'s' if threads > 1 else ''}, batch {batch_size}"
                    rows.append(_measure(tagger, corpus, precision, threads, batch_size, options, reference, functools.partial(tell, what)))
    finally:
        tagger.set_run_options(run_before)
        torch.set_num_threads(threads_before)
    return rows


def _measure(tagger: Tagger, corpus: Corpus, precision: str, threads: int, batch_size: int, options: SweepOptions,
             reference: list[list[tuple[str, ...]]] | None, done: Callable[[int], None]) -> Row:
    scope = "row" if reset_peak_rss() else "process"
    for _ in range(options.warmup):
        _one_pass(tagger, corpus.sentences, batch_size)
        done(1)
    pass_seconds, batch_seconds = [], []
    predictions: list[Prediction] = []
    for _ in range(options.passes):
        calls, predictions = _one_pass(tagger, corpus.sentences, batch_size)
        pass_seconds.append(sum(calls))
        batch_seconds.extend(calls)
        done(1)
    words_per_s = [corpus.words / s for s in pass_seconds]
    mean = statistics.fmean(words_per_s)
    agreement = agreement_with(reference, _labels(predictions)) if precision in QUANTIZED and reference is not None else None
    return Row(precision, threads, batch_size, len(corpus.sentences), corpus.words, words_per_s=mean,
               words_per_s_ci95=confidence_interval(words_per_s),
               sentences_per_s=statistics.fmean(len(corpus.sentences) / s for s in pass_seconds),
               batch_ms_p50=1000 * percentile(batch_seconds, 50), batch_ms_p95=1000 * percentile(batch_seconds, 95),
               peak_rss_mib=peak_rss_mib(scope), peak_scope=scope, agreement=agreement)


def _one_pass(tagger: Tagger, sentences: list[Sentence], batch_size: int) -> tuple[list[float], list[Prediction]]:
    """Seconds of each ``label_sentences`` call of ``batch_size`` sentences over the corpus, and the predictions."""
    seconds, predictions = [], []
    for start in range(0, len(sentences), batch_size):
        began = time.perf_counter()
        predictions.extend(tagger.label_sentences(sentences[start : start + batch_size], batch_size))
        seconds.append(time.perf_counter() - began)
    return seconds, predictions


def _labels(predictions: list[Prediction]) -> list[list[tuple[str, ...]]]:
    """Each token's labels, one per task (the same task order for every sentence)."""
    return [list(zip(*(p.tags[task] for task in sorted(p.tags)))) for p in predictions]


def agreement_with(reference: list[list[tuple[str, ...]]], labels: list[list[tuple[str, ...]]]) -> float:
    """Share of tokens whose labels are all the reference's."""
    same = sum(a == b for ref, got in zip(reference, labels) for a, b in zip(ref, got))
    total = sum(len(ref) for ref in reference)
    return same / total if total else 1.0


# --- statistics and memory ----------------------------------------------------------------------

def confidence_interval(values: Sequence[float]) -> Interval | None:
    """95% interval of the mean, Student t with len - 1 degrees of freedom; None for fewer than 2 values."""
    if len(values) < 2:
        return None
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = t_95(len(values) - 1) * sd / math.sqrt(len(values))
    return Interval(mean - half, mean + half)


def t_95(df: int) -> float:
    """The two-sided 95% Student t quantile: the table's at the largest tabled df not above ``df``
    (a little wide between 30 and 120, never narrow); 1.96 beyond 120."""
    return T_95[max(d for d in T_95 if d <= df)] if df <= 120 else 1.96


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile, linear between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def reset_peak_rss() -> bool:
    """Start the resident-set high-water mark (VmHWM) afresh: Linux only. False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return _vm_hwm_kib() is not None
    except OSError:
        return False


def peak_rss_mib(scope: str) -> float | None:
    """The high-water mark since :func:`reset_peak_rss` (``scope`` ``row``), else the process's peak."""
    if scope == "row":
        kib = _vm_hwm_kib()
        if kib is not None:
            return kib / 1024
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def _vm_hwm_kib() -> int | None:
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None
