"""The progress of training, drawn for ``tagger train`` and ``tagger pretrain``."""

from __future__ import annotations

import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from tagger.cli.common import console, headline_text


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
        dev = "  ".join(f"{task} {headline_text(s)}" for task, s in record["dev"].items())
        mark = " *" if record["best"] else ""
        self.progress.console.print(
            f"epoch {record['epoch']:>3}  loss {record['train_loss']:.4f}  {record['tokens_per_second']:,.0f} tok/s  "
            f"{record['seconds']:.0f}s  dev {dev or '-'}{mark}", highlight=False,
        )

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False)

    def close(self) -> None:
        self.progress.stop()
