"""A callback for llm_finetune.py and pretrain.py: write tuneforge's step times, tokens and
losses to a file.

They put this folder on the child's PYTHONPATH and add the callback with
`+callbacks.step_times._target_=_step_times.StepTimes`; the file is named by the environment
variable STEP_TIMES, and holds what the benchmark's other sides report.
"""

import json
import os
import time
from pathlib import Path

import lightning as L
from _step_report import peak_rss_mib, step_report


def _tokens(batch) -> int:
    """A chat batch's real tokens (its lengths), or every position of an (inputs, targets) one."""
    return int(batch["lengths"].sum()) if isinstance(batch, dict) else batch[0].numel()


class StepTimes(L.Callback):
    """Times each training batch (forward, backward, optimizer step) and keeps its loss."""

    def __init__(self, warmup: int = 2) -> None:
        self.warmup = warmup
        self.times: list[float] = []
        self.tokens: list[int] = []
        self.losses: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter() - self._started)
        self.tokens.append(_tokens(batch))
        self.losses.append(float(outputs["loss"]))

    def on_train_end(self, trainer, pl_module) -> None:
        report = step_report(self.times, self.tokens, self.losses, self.warmup, peak_rss_mib())
        Path(os.environ["STEP_TIMES"]).write_text(json.dumps(report))
