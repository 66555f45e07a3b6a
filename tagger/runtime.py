"""Process-level settings: device choice, thread count, seeding."""

from __future__ import annotations

import os
import random

import torch


def choose_device(spec: str = "auto") -> torch.device:
    """The device ``training.device`` names; ConfigError for a CUDA device this machine does not have."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        from tagger.errors import ConfigError

        found = f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA"
        raise ConfigError("training.device", f"{spec!r}, but this machine has {found}; use \"auto\" or \"cpu\"")
    return device


def set_threads(threads: int) -> None:
    """Set torch's intra-op threads; 0 keeps torch's default (one per core)."""
    if threads > 0:
        torch.set_num_threads(threads)


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
