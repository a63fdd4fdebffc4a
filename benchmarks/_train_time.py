"""A callback for scaling.py: write rank 0's training throughput to a file.

scaling.py puts this folder on the child's PYTHONPATH and adds the callback with
`+callbacks.train_time._target_=_train_time.TrainTime`; the file is named by the environment
variable TRAIN_TIME_FILE.
"""

import json
import os
import time
from pathlib import Path

import lightning as L

FILE_VARIABLE = "TRAIN_TIME_FILE"
WARMUP_STEPS = 5  # the first steps pay for first-call costs; they are not timed


class TrainTime(L.Callback):
    """Writes {"steps", "seconds"} of the optimizer steps after the first WARMUP_STEPS."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == WARMUP_STEPS:
            self._start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_rank == 0:
            timed = {
                "steps": trainer.global_step - WARMUP_STEPS,
                "seconds": time.perf_counter() - self._start,
            }
            Path(os.environ[FILE_VARIABLE]).write_text(json.dumps(timed))
