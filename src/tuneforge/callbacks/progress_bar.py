"""Lightning's Rich progress bar, redrawn a few times a second instead of at every step."""

import time
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar

from tuneforge.callbacks._base import Callback


class ProgressBar(RichProgressBar, Callback):
    """RichProgressBar whose training bar is redrawn at most `refresh_per_second` times a second.

    At every step Lightning's bar reads the logged metrics and redraws itself, which costs a small
    model on a CPU a few percent of its step time; a person reads no more than a few updates a
    second. The last batch of an epoch is always drawn, so the bar ends complete.

    Args:
        refresh_per_second: redraws of the training bar per second, at most.
        refresh_rate: as RichProgressBar's: 0 turns the bar off.
        **kwargs: RichProgressBar's other arguments (leave, theme, console_kwargs).
    """

    def __init__(self, refresh_per_second: float = 4.0, refresh_rate: int = 1, **kwargs: Any):
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self.min_interval_s = 1.0 / refresh_per_second
        self._drawn_at = float("-inf")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now = time.monotonic()
        last = batch_idx + 1 >= self.total_train_batches
        if last or now - self._drawn_at >= self.min_interval_s:
            self._drawn_at = now
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
