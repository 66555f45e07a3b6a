"""Process-level settings: device choice, thread count, seeding."""

from __future__ import annotations

import os
import random
import time

import torch

from tagger.config import MAX_THREADS
from tagger.errors import TaggerError


def choose_device(spec: str = "auto") -> torch.device:
    """The device ``training.device`` names; ConfigError for a CUDA or MPS device this machine does not have."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    missing = missing_cuda(device) or ("no MPS (Apple GPU) device" if device.type == "mps" and not torch.backends.mps.is_available() else "")
    if missing:
        from tagger.errors import ConfigError

        raise ConfigError("training.device", f"{spec!r}, but this machine has {missing}; use \"auto\" or \"cpu\"")
    return device


def missing_cuda(device: torch.device) -> str:
    """For a CUDA device this machine does not have, what it has instead ("no CUDA", "1 CUDA device(s)"); else ""."""
    if device.type != "cuda" or (torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()):
        return ""
    return f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA"


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads; 0: one per core that is idle now (:func:`idle_cores`), or
    torch's default (one per core) where that cannot be told. Returns the number set.

    Why not always one per core: beside another busy process, torch's threads wait on each other
    and run several times slower than one thread would (bench/threads.py, BENCHMARKS.md).
    """
    if threads > MAX_THREADS:  # the config refuses more; a caller that does not ask it gets this
        raise TaggerError(f"{threads} threads: at most {MAX_THREADS} (torch starts each one; one per core is the most that helps)")
    if threads <= 0:
        threads = idle_cores() or 0
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def idle_cores(sample_seconds: float = 0.1) -> int | None:
    """How many of this process's cores were idle over the next ``sample_seconds`` (at least 1),
    from the kernel's per-CPU times in /proc/stat; None where there is no /proc/stat (not Linux)."""
    try:
        cpus = set(os.sched_getaffinity(0))
        before = _cpu_times(cpus)
        time.sleep(sample_seconds)
        after = _cpu_times(cpus)
    except (OSError, AttributeError, ValueError):
        return None
    if not after:
        return None
    idle = sum((after[c][0] - before[c][0]) / max(after[c][1] - before[c][1], 1) for c in after if c in before)
    return max(1, round(idle))


def _cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]]:
    """cpu -> (idle + iowait, total) jiffies, for the CPUs in ``cpus``."""
    times = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                numbers = [int(v) for v in values[:8]]
                times[int(name[3:])] = (numbers[3] + numbers[4], sum(numbers))
    return times


def cores_per_process(processes: int) -> int:
    """This process's share of the cores it may run on, when ``processes`` share them (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))  # honours taskset and container CPU sets
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(processes, 1))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python and torch; return the generator that orders training data."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
