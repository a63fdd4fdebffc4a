"""Gradual unfreezing: the head trains first, then one more layer group every few epochs.

The schedule is the fine-tuning strategy's (`finetune.strategies`), handed in by whoever builds
the run: a callback knows how to apply a freezing plan to a model at each epoch, not how to
decide it.
"""

import logging
from collections.abc import Callable

import lightning as L
from torch import nn

from tuneforge.callbacks._base import Callback

log = logging.getLogger(__name__)


class GradualUnfreeze(Callback):
    """At each epoch start, freeze the layer groups not yet due (their BatchNorm statistics too)
    and let the rest train. The optimizer already holds every parameter, so a group starts moving
    as soon as it has gradients.

    Args:
        groups: parameter names of the model's layer groups, from input to output.
        frozen_at: the parameter names still frozen at an epoch.
        norms_within: the names of a model's BatchNorm layers all of whose parameters are among
            the frozen names: their running statistics stay as trained.
    """

    def __init__(
        self,
        groups: list[list[str]],
        frozen_at: Callable[[int], set[str]],
        norms_within: Callable[[nn.Module, set[str]], list[str]],
    ) -> None:
        self.groups = groups
        self.frozen_at = frozen_at
        self.norms_within = norms_within

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model = getattr(pl_module, "model", pl_module)
        frozen = self.frozen_at(trainer.current_epoch)
        for name, param in model.named_parameters():
            param.requires_grad = name not in frozen
        still = set(self.norms_within(model, frozen))
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train(name not in still)
        training = len(self.groups) - sum(1 for g in self.groups if set(g) <= frozen)
        log.info(
            "Epoch %d: %d of %d layer groups train",
            trainer.current_epoch,
            training,
            len(self.groups),
        )
