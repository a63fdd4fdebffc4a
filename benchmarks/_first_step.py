"""A callback for startup.py: write the wall-clock time of the first optimizer step to a file.

startup.py puts this folder on the child's PYTHONPATH and adds the callback with
`+callbacks.first_step._target_=_first_step.FirstStepTime`; the file is named by the environment
variable FIRST_STEP_FILE.
"""

import os
import time
from pathlib import Path

import lightning as L

FILE_VARIABLE = "FIRST_STEP_FILE"


class FirstStepTime(L.Callback):
    """Writes `time.time()` to $FIRST_STEP_FILE when the first optimizer step has run."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 1:
            Path(os.environ[FILE_VARIABLE]).write_text(repr(time.time()))
