"""Keep in every checkpoint what Lightning's leaves out, so a resumed run continues bit for bit."""

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from tuneforge.callbacks._base import Callback


def random_states() -> dict[str, Any]:
    """Python's, NumPy's and torch's global random states (every CUDA device's too), as plain
    data and tensors, so the checkpoint still loads with `weights_only=True`."""
    version, state, gauss = random.getstate()
    kind, keys, position, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "python": [version, list(state), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Put back what `random_states()` took."""
    version, state, gauss = states["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumeState(Callback):
    """Saves the global random states and the training loader's place in its pass with each
    checkpoint, and puts them back when a resumed run starts training.

    Lightning saves the model, optimizer, scheduler, loops and callbacks, but no random state:
    without it a resumed run draws other dropout masks and augmentations. It saves a loader's
    `state_dict()` too, but loads it only if the training loader is first asked for after the
    checkpoint is read; a task whose `configure_optimizers` reads
    `trainer.estimated_stepping_batches` asks for it before, and the state is dropped (Lightning
    issue 20550). So the loader's state is kept here as well, and given back in `on_train_start`,
    after everything else is restored and before the first batch is drawn.

    When Lightning ends an epoch before the loader's pass ends (`limit_train_batches`), the loader
    is told, so that a run resumed from there starts the next pass as the uninterrupted run does.
    """

    def __init__(self) -> None:
        self._trainer: L.Trainer | None = None
        self._restore: dict[str, Any] | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        loader = self._loader(self._trainer) if self._trainer is not None else None
        return {
            "random": random_states(),
            "train_loader": loader.state_dict() if loader is not None else None,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restore = state_dict

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state, self._restore = self._restore, None
        if state is None:
            return
        loader = self._loader(trainer)
        if loader is not None and state.get("train_loader") is not None:
            loader.load_state_dict(state["train_loader"])
        set_random_states(state["random"])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        # Before the checkpoint callbacks, which Lightning runs last.
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        loader = self._loader(trainer)
        if loader is not None:
            loader.end_pass()

    @staticmethod
    def _loader(trainer: L.Trainer) -> Any:
        """The training loader when it is one that can resume its pass, else None."""
        loader = trainer.train_dataloader if trainer.state.fn == "fit" else None
        return loader if hasattr(loader, "end_pass") else None


class StepCheckpoint(ModelCheckpoint, Callback):
    """ModelCheckpoint(every_n_train_steps=N) whose save at a batch that a validation follows
    waits for the end of that validation (set `save_on_train_epoch_end=False` with it).

    Lightning resumes from a checkpoint saved at such a batch as if its validation had run, so a
    run killed during that validation would skip it when resumed, and with it that validation's
    metrics and best checkpoint. Lightning's ModelCheckpoint waits like this only when it
    monitors a metric.
    """

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, idx: int
    ) -> None:
        every = self._every_n_train_steps
        due = every >= 1 and trainer.global_step % every == 0
        epoch_loop = trainer.fit_loop.epoch_loop
        if due and epoch_loop._should_check_val_fx(trainer.fit_loop._data_fetcher):
            self._defer_save_until_validation = True  # saved by on_validation_end
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, idx)
