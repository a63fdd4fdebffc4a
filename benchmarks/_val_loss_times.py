"""A callback for gpu.py: append each validation's time, step and val/loss to a file.

gpu.py puts this folder on the child's PYTHONPATH and adds the callback with
`+callbacks.val_times._target_=_val_loss_times.ValLossTimes`; the file (JSON lines) is named by
the environment variable VAL_TIMES_FILE.
"""

import json
import os
import time
from pathlib import Path

import lightning as L

FILE_VARIABLE = "VAL_TIMES_FILE"


class ValLossTimes(L.Callback):
    """One line per validation: seconds since training started, optimizer step, val/loss."""

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.global_rank != 0:
            return
        line = {
            "seconds": time.perf_counter() - self._start,
            "step": trainer.global_step,
            "val_loss": float(trainer.callback_metrics["val/loss"]),
        }
        with Path(os.environ[FILE_VARIABLE]).open("a") as handle:
            handle.write(json.dumps(line) + "\n")
