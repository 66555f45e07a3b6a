"""How a model runs (RunOptions: device, precision, threads, batch size), and the process-level
settings behind it: device choice, thread count, seeding."""

from __future__ import annotations

import importlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tagger.core.config import DEVICE_HELP, BatchSize, Threads, check_settings, device_problem, setting
from tagger.core.errors import ConfigError
from tagger.core.types import PRECISION_HELP, QUANTIZED, Precision

if TYPE_CHECKING:
    import torch  # imported where used: the command line declares its options from RunOptions without torch

ONNX_EXTRA = "pip install 'birnn-tagger[onnx]'"


@dataclass(frozen=True)
class RunOptions:
    """How a loaded model runs. The one place these values are checked: ``Tagger.load``, the spaCy
    component, the service, annotate (local, workers, Ray) and benchmark take a RunOptions, and the
    commands declare their ``--device``, ``--precision``, ``--threads`` and ``--batch-size`` from its
    fields (:mod:`tagger.cli.options`). A bad value is a ConfigError naming the field, the same words
    from every front end.
    """

    device: str = setting("cpu", f"Device to run the model on: {DEVICE_HELP}.")
    precision: Precision = setting("fp32", PRECISION_HELP)
    threads: Threads = setting(0, "Torch threads (0: one per core that is idle, looked at again as the machine gets busier or "
                                  "quieter; on a busy machine more threads than idle cores run many times slower).")
    batch_size: BatchSize = setting(256, "Sentences per batch.")

    def __post_init__(self) -> None:
        check_settings(self)
        if self.precision in QUANTIZED and self.device != "cpu":
            raise ConfigError("precision", f"{self.precision} runs on the CPU only (ONNX Runtime): use device cpu, not {self.device!r}")
        check_device(self.device)
        if self.precision in QUANTIZED:
            require_onnxruntime()

    @property
    def torch_device(self) -> torch.device:
        """The device, with ``auto`` resolved."""
        return choose_device(self.device, "device")


def check_device(spec: str) -> None:
    """ConfigError for a device name torch does not know, or one this machine does not have."""
    if (problem := device_problem(spec)) is not None:
        raise ConfigError("device", problem)
    choose_device(spec, "device")


def require_onnxruntime() -> None:
    """ConfigError naming the extra when onnx or onnxruntime cannot be imported (the int8 precisions need them)."""
    try:
        for name in ("onnx", "onnxruntime", "onnxruntime.quantization"):
            importlib.import_module(name)
    except ImportError as error:
        raise ConfigError("precision", f"int8 needs onnx and onnxruntime ({error.name} is missing): {ONNX_EXTRA}") from error


def choose_device(spec: str = "auto", key: str = "training.device") -> torch.device:
    """The device ``spec`` names (``auto``: CUDA when there is one); ConfigError naming ``key`` for a CUDA
    or MPS device this machine does not have."""
    import torch

    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    missing = missing_cuda(device) or ("no MPS (Apple GPU) device" if device.type == "mps" and not torch.backends.mps.is_available() else "")
    if missing:
        raise ConfigError(key, f"{spec!r}, but this machine has {missing}; use \"auto\" or \"cpu\"")
    return device


def missing_cuda(device: torch.device) -> str:
    """For a CUDA device this machine does not have, what it has instead ("no CUDA", "1 CUDA device(s)"); else ""."""
    import torch

    if device.type != "cuda" or (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        return ""
    return f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA"


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads; 0: one per core that is idle now (:func:`idle_cores`), or
    torch's default (one per core) where that cannot be told. Returns the number set.

    Why not always one per core: beside another busy process, torch's threads wait on each other
    and run several times slower than one thread would (bench/threads.py, BENCHMARKS.md).
    """
    import torch

    if threads <= 0:
        threads = idle_cores() or 0
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def idle_cores(sample_seconds: float = 0.1) -> int | None:
    """How many of this process's cores were idle over the next ``sample_seconds`` (at least 1),
    from the kernel's per-CPU times in /proc/stat; None where there is no /proc/stat (not Linux)."""
    before = read_cpu()
    time.sleep(sample_seconds)
    after = read_cpu()
    if before is None or after is None:
        return None
    return max(1, round(idle_between(before, after)))


def cores_per_process(processes: int) -> int:
    """This process's share of the cores it may run on, when ``processes`` share them (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))  # honours taskset and container CPU sets
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(processes, 1))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python and torch; return the generator that orders training data."""
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


# Threads for a long-lived caller (a loaded Tagger): decided again as the machine gets busier or quieter.


@dataclass(frozen=True)
class CpuReading:
    """One look at the CPUs, for :class:`ThreadPolicy` to compare with the next: each of this process's
    CPUs as (idle + iowait, total) jiffies from /proc/stat, and this process's own CPU seconds (all its threads)."""

    cpus: dict[int, tuple[int, int]]
    own: float


def read_cpu(stat_path: str = "/proc/stat") -> CpuReading | None:
    """The CPU times now (a read of /proc/stat's first lines, no sleep); None where they cannot be read (not Linux)."""
    try:
        allowed = os.sched_getaffinity(0)  # honours taskset and container CPU sets
        cpus: dict[int, tuple[int, int]] = {}
        with open(stat_path, encoding="ascii") as stat:
            for line in stat:
                if not line.startswith("cpu"):
                    break  # the cpu lines come first; the rest (interrupt counts) is long
                name, *values = line.split()
                if name[3:].isdigit() and int(name[3:]) in allowed:
                    numbers = [int(v) for v in values[:8]]
                    cpus[int(name[3:])] = (numbers[3] + numbers[4], sum(numbers))
    except (OSError, AttributeError, ValueError):
        return None
    return CpuReading(cpus, time.process_time()) if cpus else None


class ThreadPolicy:
    """How many torch threads a loaded Tagger uses (its RunOptions' ``threads``): it calls :meth:`apply`
    before each batch.

    ``threads`` N > 0: N threads. 0: as many as there are cores this process may use, i.e. cores that
    were idle or busy with this process itself between the previous look and now (the kernel's
    per-CPU idle time in /proc/stat, plus this process's CPU time over the same window), at least 1.
    It looks again at most every ``interval`` seconds, and never sleeps: the window is the time
    between two calls. Until its first window of ``min_window`` seconds (the first window starts
    when the policy is made) it uses 1 thread; where /proc/stat cannot be read it leaves torch's
    default alone. ``torch.set_num_threads`` is called only when torch's number differs.

    Why: beside another busy process, torch's default (one thread per core) waits on the core it
    does not get and runs many times slower than one thread would (bench/threads.py,
    bench/spacy_busy.py); on a quiet machine one thread per core is the fastest. A choice made once,
    when a model loads, cannot see a job that starts later.

    ``read`` and ``clock`` are for tests: readings and time to use instead of /proc/stat and
    ``time.monotonic``.
    """

    MARGIN = 0.3  # cores: 1.75 cores free make 2 threads, 1.6 make 1 (a thread too many costs more than one too few)

    def __init__(self, threads: int = 0, *, interval: float = 1.0, min_window: float = 0.1,
                 read: Callable[[], CpuReading | None] = read_cpu, clock: Callable[[], float] = time.monotonic) -> None:
        self.threads = threads  # as RunOptions checked it
        self.interval, self.min_window = interval, min_window
        self._read, self._clock = read, clock
        self.chosen: int | None = threads or None  # what apply sets; None: torch's default, left alone
        self._last: tuple[float, CpuReading] | None = None
        self._due = float("inf")
        if threads == 0:
            reading = read()
            if reading is not None:
                self._last, self._due, self.chosen = (clock(), reading), clock() + min_window, 1

    def apply(self) -> int:
        """Set torch's threads to the policy's number (deciding it again when due); the number torch uses."""
        import torch

        if self._clock() >= self._due:
            self._decide()
        if self.chosen is not None and torch.get_num_threads() != self.chosen:
            torch.set_num_threads(self.chosen)
        return torch.get_num_threads()

    def _decide(self) -> None:
        now, reading = self._clock(), self._read()
        if reading is None or self._last is None:  # /proc/stat went away: keep the last choice
            self._due = float("inf")
            return
        (then, last), self._last = self._last, (now, reading)
        self._due = now + self.interval
        window = now - then
        if window <= 0:
            return
        own = max(reading.own - last.own, 0.0) / window
        self.chosen = max(1, min(len(reading.cpus), int(idle_between(last, reading) + own + self.MARGIN)))


def idle_between(before: CpuReading, after: CpuReading) -> float:
    """Cores (of those both readings saw) that were idle between the two readings."""
    return sum((after.cpus[c][0] - before.cpus[c][0]) / max(after.cpus[c][1] - before.cpus[c][1], 1) for c in after.cpus if c in before.cpus)
