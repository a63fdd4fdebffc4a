"""tuneforge's callbacks are passed by at the per-batch hooks they do not define."""

import lightning as L

from tuneforge.callbacks import NonFiniteLoss, ProgressBar, ResumeState, StepCheckpoint
from tuneforge.callbacks._base import PER_BATCH_HOOKS, Callback
from tuneforge.run.build import build

from ..conftest import compose_config


class CountsSteps(Callback):
    def __init__(self) -> None:
        self.steps = self.fits = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.steps += 1

    def on_fit_start(self, trainer, pl_module) -> None:
        self.fits += 1


def test_undefined_per_batch_hooks_are_off_and_the_defined_ones_run(tmp_path):
    counts = CountsSteps()
    assert counts.on_train_batch_start is None and counts.on_before_backward is None
    assert callable(counts.on_train_batch_end) and callable(counts.on_validation_start)
    built = build(compose_config("train", ["debug=limit", "trainer.max_epochs=1"]), tmp_path)
    built.trainer.callbacks.append(counts)
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert counts.fits == 1 and counts.steps == built.trainer.global_step > 1


def test_lightning_subclasses_keep_the_hooks_lightning_defines():
    bar, saver = ProgressBar(), StepCheckpoint(every_n_train_steps=10)
    assert callable(bar.on_train_batch_end) and callable(bar.on_validation_batch_end)
    assert callable(saver.on_train_batch_end) and saver.on_before_backward is None
    assert callable(NonFiniteLoss().on_before_backward) and ResumeState().on_test_batch_end is None
    switched_off = [hook for hook in PER_BATCH_HOOKS if getattr(bar, hook) is None]
    assert switched_off and all(getattr(L.Callback, hook) for hook in switched_off)
