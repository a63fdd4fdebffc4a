"""Callbacks that only the tests add to a real `tuneforge train` (+callbacks.NAME._target_=...),
to stop it at an exact point, fill its disk or feed it a NaN, with no timing involved."""

import errno
import signal
import sys
import threading
from pathlib import Path

import lightning as L
import torch


class PauseAt(L.Callback):
    """Prints `PAUSED <where>` on stdout at the start of training step `step`, or of the second
    batch of the validation after epoch `val_epoch`, then waits there for a signal: SIGKILL ends
    the run there; SIGTERM or SIGINT goes to the run's handler, as if it came mid-step. -1: not
    at that point."""

    def __init__(self, step: int = -1, val_epoch: int = -1) -> None:
        self.step, self.val_epoch = step, val_epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            self._pause(f"step {self.step}")

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        at_epoch = trainer.current_epoch == self.val_epoch
        if not trainer.sanity_checking and at_epoch and batch_idx == 1:
            self._pause(f"validation {self.val_epoch}")

    @staticmethod
    def _pause(where: str) -> None:
        # Caught from before the print on, so that one sent as soon as it is read is not missed.
        # Python runs a signal's handler in the main thread whichever thread the kernel handed
        # it to; sigwait() in the main thread alone waited forever when another thread (a
        # logger's writer) took it.
        received: list[int] = []
        arrived = threading.Event()

        def note(number: int, _frame) -> None:
            received.append(number)
            arrived.set()

        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {number: signal.signal(number, note) for number in signals}
        print(f"PAUSED {where}", flush=True)
        while not arrived.wait(0.05):  # returns to Python now and then, so the handler can run
            pass
        for number, handler in previous.items():
            signal.signal(number, handler)
        signal.raise_signal(received[0])  # now to the run's own handler


class FillDiskAt(L.Callback):
    """At the start of training step `step`, fills the disk of the run folder with a file
    `filler` until the disk says it is full."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        with open(Path(trainer.default_root_dir) / "filler", "wb", buffering=0) as handle:
            for size in (1 << 20, 1 << 12, 1):  # to the last block
                try:
                    while True:
                        handle.write(bytes(size))
                except OSError as ex:
                    if ex.errno != errno.ENOSPC:
                        raise
        print(f"DISK FULL at step {self.step}", file=sys.stderr, flush=True)


class NaNBatchAt(L.Callback):
    """Turns the inputs of the batches of training steps `steps` into NaN, so their loss is NaN."""

    def __init__(self, steps: list[int]) -> None:
        self.steps = set(steps)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step in self.steps:
            batch[0].copy_(torch.full_like(batch[0], float("nan")))
