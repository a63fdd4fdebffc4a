"""Stop at a NaN or infinite training loss before the weights take it, or skip a few such steps."""

import logging
import math
from typing import Any

import lightning as L
import torch

from tuneforge.callbacks._base import Callback

log = logging.getLogger(__name__)

CAUSES = (
    "a learning rate too high, or fp16 overflow; lower optimizer.lr, clip gradients "
    "(trainer.gradient_clip_val=1.0), train in bf16 (trainer.precision=bf16-mixed), or skip up "
    "to N such steps with skip_nonfinite=N"
)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite: the message names the step and the fixes."""

    def __init__(self, step: int, value: float, skip: int) -> None:
        self.step, self.value = step, value
        limit = f" after {skip} such steps were skipped (skip_nonfinite={skip})" if skip else ""
        super().__init__(
            f"the training loss was {value} at step {step}{limit}; training stopped before the "
            f"weights took it, and the checkpoints saved before it are kept. Likely {CAUSES}"
        )


class NonFiniteLoss(Callback):
    """Checks each training loss before its backward pass. A NaN or infinite one stops the run
    with NonFiniteLossError, so no optimizer step and no checkpoint ever holds it; with `skip`,
    up to that many such steps are dropped instead: the buffers that the forward pass moved
    (BatchNorm's running statistics) are put back and the gradients cleared, so the optimizer
    leaves the weights and its own state as they were (the step still counts, as a step that
    torch.amp's GradScaler skips does).

    Args:
        skip: how many non-finite steps to drop before stopping (0: stop at the first).
    """

    def __init__(self, skip: int = 0) -> None:
        self.skip = skip
        self.skipped = 0
        self._drop_step = self._undo_forward = False
        self._buffers: dict[str, torch.Tensor] = {}

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.skip > self.skipped:  # the forward pass may have to be undone
            self._buffers = {k: b.detach().clone() for k, b in pl_module.named_buffers()}

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        # One number read per step (a NaN or infinity anywhere makes the sum non-finite).
        value = loss.detach().float().sum().item()
        if math.isfinite(value):
            return
        if self.skipped >= self.skip:
            raise NonFiniteLossError(trainer.global_step, value, self.skip)
        self.skipped += 1
        self._drop_step = self._undo_forward = True
        log.warning(
            "Step %d: the training loss was %s; the step is skipped (%d of skip_nonfinite=%d)",
            trainer.global_step,
            value,
            self.skipped,
            self.skip,
        )

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._undo_forward:  # after the backward pass, which may read the buffers
            return
        self._undo_forward = False
        with torch.no_grad():
            for name, buffer in pl_module.named_buffers():
                buffer.copy_(self._buffers[name])

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any
    ) -> None:
        if not self._drop_step:
            return
        self._drop_step = False
        for group in optimizer.param_groups:
            for param in group["params"]:
                param.grad = None  # the optimizer passes over a parameter with no gradient

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.skipped:
            log.warning(
                "%d training step(s) had a non-finite loss and were skipped (skip_nonfinite=%d)",
                self.skipped,
                self.skip,
            )

    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = state_dict["skipped"]
