"""A callback that only the SLURM tests add to a real `tuneforge train`, to hold a job at an exact
step for the test to interrupt it, once: the job that SLURM starts again runs through."""

import signal
from pathlib import Path

import lightning as L


class PauseOnceAt(L.Callback):
    """At the start of training step `step`, writes `marker` and waits for a signal, unless
    `marker` exists already (the job started again)."""

    def __init__(self, step: int, marker: str) -> None:
        self.step, self.marker = step, Path(marker)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step and not self.marker.exists():
            self.marker.write_text(str(trainer.global_step))
            while True:
                signal.pause()
