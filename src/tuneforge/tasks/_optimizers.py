"""What every task does to configure its optimizer: decay groups, then a per-step schedule."""

import inspect
from collections.abc import Callable

import torch
from torch import nn
from torch.optim import Optimizer

from tuneforge.tasks._param_groups import decay_groups

OptimizerFactory = Callable[[list[dict]], Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def configure_optimizers(
    model: nn.Module,
    optimizer_factory: OptimizerFactory,
    scheduler_factory: SchedulerFactory | None,
    total_steps: int,
):
    """Lightning's `configure_optimizers` answer for `model`'s trainable parameters."""
    optimizer = optimizer_factory(decay_groups(model))
    if scheduler_factory is None:
        return optimizer
    if "total_steps" in inspect.signature(scheduler_factory).parameters:
        scheduler = scheduler_factory(optimizer, total_steps=total_steps)
    else:
        scheduler = scheduler_factory(optimizer)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
