"""Data-parallel training in several processes started by ``torchrun``: the process group, each
rank's share of a batch, and the values rank 0 decides for everyone.

Every process (rank) runs the same training loop over the same batch order (same seed). Each takes
every ``world_size``-th sentence of each batch, and DistributedDataParallel averages the gradients,
so one step equals a single-process step on the whole batch. Rank 0 alone evaluates, writes files
and reports; what it decides (a dev score, whether to stop) is broadcast so all ranks stay in step.
A process that torchrun did not start (``WORLD_SIZE`` unset or 1) gets the one-process ``Group()``,
on which every method here does nothing special.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from tagger.core.errors import TaggerError

T = TypeVar("T")

# The other ranks wait at a broadcast while rank 0 scores the dev set and writes the model and the
# checkpoint, and at the end while it scores the test set: allow for large ones.
TIMEOUT = timedelta(hours=1)


class RankZeroFailed(TaggerError):
    """Raised on the other ranks when what rank 0 alone runs fails; rank 0 reports the error itself."""


def launched() -> bool:
    """Whether this process is one of several that torchrun started (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_rank() -> int:
    """This process's rank among those torchrun started (``RANK``); 0 for a lone process."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0, or a process not started by torchrun: the one that reports and writes."""
    return process_rank() == 0


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, a CUDA device without an index becomes this node's GPU number ``LOCAL_RANK``."""
    if launched() and device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


@dataclass(frozen=True)
class Group:
    """This process's place among the training processes; ``Group()`` is a lone process."""

    rank: int = 0
    world_size: int = 1
    local_world_size: int = 1  # processes on this machine: they share its cores
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's part of a global batch: every ``world_size``-th item, starting at its rank.

        Batches are sorted by length, so taking turns gives every rank sentences of the same lengths.
        """
        return list(items[self.rank :: self.world_size])

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def from_main(self, make: Callable[[], T]) -> T:
        """Run ``make`` on rank 0 alone and return its result on every rank.

        An error there is raised on every rank (the others raise a TaggerError quoting it), so no
        rank is left waiting for a value that will never come.
        """
        if not self.active:
            return make()
        outcome: tuple[bool, Any] = (True, None)
        if self.is_main:
            try:
                outcome = (True, make())
            except Exception as error:
                reason = str(error) if isinstance(error, TaggerError) else f"{type(error).__name__}: {error}"
                self.broadcast((False, reason))
                raise
        ok, value = self.broadcast(outcome)
        if not ok:
            raise RankZeroFailed(f"rank 0 failed: {value}")
        return value

    def sum(self, value: float) -> float:
        """The sum of ``value`` over all ranks."""
        if not self.active:
            return value
        device = torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")
        total = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return float(total)

    def wrap(self, model: nn.Module, device: torch.device, find_unused_parameters: bool) -> nn.Module:
        """``model`` in DistributedDataParallel, which copies rank 0's weights to every rank now and
        averages the gradients of each backward pass; a lone process gets ``model`` itself.

        ``find_unused_parameters`` is for models where some head may get no targets in a rank's share
        (masked-token prediction, tasks that some sentences have no labels for); it costs a graph walk
        per step, so it is off otherwise. Buffers (constant transition masks) are not re-sent each step.
        """
        if not self.active:
            return model
        ddp = nn.parallel.DistributedDataParallel
        # Newer torch renames broadcast_buffers (and warns about the old name).
        quiet = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters else "broadcast_buffers"
        return ddp(model, device_ids=[device.index] if device.type == "cuda" else None,
                   find_unused_parameters=find_unused_parameters, **{quiet: False})


@contextmanager
def process_group(device: torch.device) -> Iterator[Group]:
    """Join the processes torchrun started (gloo on CPU, nccl on CUDA) and leave the group at the
    end, on errors too. A process not started by torchrun gets ``Group()``; a group that the caller
    already set up is used and left for the caller to close."""
    if not launched():
        yield Group()
        return
    if not dist.is_available():
        raise TaggerError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    try:
        yield Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_WORLD_SIZE", "1")), dist.get_backend())
        if created:
            # Leave together: a rank that closes its connections while another is still in a
            # collective can have gloo abort that one at exit ("terminate called ...", SIGABRT).
            dist.barrier()
    finally:
        if created:
            dist.destroy_process_group()
