"""The hooks a training loop reports to; the CLI's progress bars and tables implement them."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("tagger.training")


class TrainingMonitor:
    """Hooks the loops call; by default only messages are logged."""

    def start_epoch(self, epoch: int, batches: int | None) -> None: ...
    def step(self, tokens: int, loss: float) -> None: ...
    def end_epoch(self, record: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None:
        logger.info(text)

    def close(self) -> None: ...


class Quiet(TrainingMonitor):
    """The monitor of ranks other than 0 in distributed training: they train but do not report."""

    def message(self, text: str) -> None: ...
