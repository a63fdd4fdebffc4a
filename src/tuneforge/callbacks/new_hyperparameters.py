"""A resumed run trains with the optimizer and scheduler settings of its command, not the stored
ones, where the user allowed changes (`resume.allow_changes=true`)."""

from typing import Any

import lightning as L
from torch.optim.lr_scheduler import LambdaLR

from tuneforge.callbacks._base import Callback


def _settings(optimizer: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in group.items() if k != "params"} for group in optimizer.param_groups]


def _scheduled(scheduler: Any, base_lrs: list[float]) -> list[float]:
    """The learning rates `scheduler` gives at its step with `base_lrs`: a LambdaLR's (all of
    tuneforge's schedules) from its factors, which are built anew from the command's config;
    another's as it is now, scaled as its base rate changes."""
    if isinstance(scheduler, LambdaLR):
        factors = [factor(scheduler.last_epoch) for factor in scheduler.lr_lambdas]
        return [base * factor for base, factor in zip(base_lrs, factors, strict=True)]
    now = scheduler.get_last_lr()
    return [lr * new / old for lr, new, old in zip(now, base_lrs, scheduler.base_lrs, strict=True)]


class NewHyperparameters(Callback):
    """Puts the settings of the optimizers and schedulers that this run's config built back over
    the ones Lightning restores from the checkpoint, keeping what was learned.

    Lightning loads each optimizer's state whole, its param groups' `lr`, `weight_decay`,
    `betas` ... included, and each scheduler's, base rates included: a changed `optimizer.lr`
    would be ignored. This takes the groups' settings as configured (`on_fit_start`, after
    `configure_optimizers`, before the restore) and, once restored (`on_train_start`), gives them
    back; the optimizer's moments and the scheduler's step stay the checkpoint's, and the rate is
    the schedule's at that step from the new base rate.
    """

    def __init__(self) -> None:
        self._configured: list[list[dict[str, Any]]] = []

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._configured = [_settings(optimizer) for optimizer in trainer.optimizers]

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for optimizer, groups in zip(trainer.optimizers, self._configured, strict=True):
            for group, configured in zip(optimizer.param_groups, groups, strict=True):
                group.update(configured)
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            groups = scheduler.optimizer.param_groups
            base_lrs = [group["initial_lr"] for group in groups]
            for group, lr in zip(groups, _scheduled(scheduler, base_lrs), strict=True):
                group["lr"] = lr
            scheduler.base_lrs = base_lrs
            scheduler._last_lr = [group["lr"] for group in groups]  # what get_last_lr() says
