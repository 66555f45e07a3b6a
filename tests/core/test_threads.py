"""Torch threads that follow the machine's load (ThreadPolicy): fake /proc/stat readings and a fake clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import FakeMachine

from tagger.core.runtime import ThreadPolicy, read_cpu


@pytest.fixture(autouse=True)
def torch_threads() -> Iterator[None]:
    """Each test may set torch's threads; the next starts with what it had."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_adaptive_policy_uses_the_cores_that_are_idle_or_its_own() -> None:
    machine = FakeMachine()
    policy = ThreadPolicy(0, read=machine.read, clock=lambda: machine.now)
    torch.set_num_threads(4)
    assert policy.apply() == 1  # no window yet: one thread, not torch's one per core
    machine.run(0.5, idle_cpus=3, own_cores=1)  # quiet: 3 idle, the 4th ours
    assert policy.apply() == 4
    machine.run(0.5, idle_cpus=0, own_cores=2)  # two other processes now keep two cores busy...
    assert policy.apply() == 4 and machine.reads == 2  # ...but the next look is due a second after the last
    machine.run(0.6, idle_cpus=0, own_cores=2)
    assert policy.apply() == 2  # over 1.1 s: no idle core, two of ours
    assert torch.get_num_threads() == 2
    machine.run(1.0, idle_cpus=0.5, own_cores=1)  # a core half idle is not a thread more
    assert policy.apply() == 1
    machine.run(1.0, idle_cpus=1.8, own_cores=1)  # the others stopped
    assert policy.apply() == 3
    machine.run(1.0, idle_cpus=4, own_cores=0)  # nothing at all ran: every core
    assert policy.apply() == 4


def test_the_adaptive_policy_calls_set_num_threads_only_when_the_number_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine()
    policy = ThreadPolicy(0, read=machine.read, clock=lambda: machine.now)
    calls: list[int] = []
    torch.set_num_threads(4)
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    for _ in range(5):
        machine.run(1.0, idle_cpus=1, own_cores=1)
        assert policy.apply() == 2
    assert calls == [2]


def test_without_proc_stat_the_adaptive_policy_leaves_torch_alone(tmp_path: Path) -> None:
    torch.set_num_threads(3)
    assert read_cpu(str(tmp_path / "no-stat")) is None
    policy = ThreadPolicy(0, read=lambda: None, min_window=0.0)
    assert policy.apply() == 3 and policy.chosen is None


def test_read_cpu_reads_idle_and_total_jiffies_of_this_process_cpus(tmp_path: Path) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    lines = ["cpu  9 9 9 9 9 9 9 9 0 0"]
    lines += [f"cpu{cpu} 10 1 5 {100 + cpu} 7 0 2 0 0 0" for cpu in range(cpus[-1] + 2)]  # one more than ours
    (tmp_path / "stat").write_text("\n".join([*lines, "intr 1 2 3", "cpu99 0 0 0 0 0 0 0 0"]) + "\n", encoding="ascii")
    reading = read_cpu(str(tmp_path / "stat"))
    assert reading is not None and reading.own > 0
    assert reading.cpus == {cpu: (107 + cpu, 125 + cpu) for cpu in cpus}
    real = read_cpu()
    assert real is not None and set(real.cpus) == set(cpus)
