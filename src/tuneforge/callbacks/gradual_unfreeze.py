"""Gradual unfreezing: the head trains first, then one more layer group every few epochs."""

import logging

import lightning as L
from torch import nn

from tuneforge.callbacks._base import Callback
from tuneforge.finetune.strategies import frozen_at, norms_within

log = logging.getLogger(__name__)


class GradualUnfreeze(Callback):
    """At each epoch start, freeze the layer groups not yet due (their BatchNorm statistics too)
    and let the rest train. The optimizer already holds every parameter, so a group starts moving
    as soon as it has gradients.

    Args:
        groups: parameter names of the model's layer groups, from input to output.
        unfreeze_every: epochs between two groups joining.
    """

    def __init__(self, groups: list[list[str]], unfreeze_every: int) -> None:
        self.groups = groups
        self.unfreeze_every = unfreeze_every

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model = getattr(pl_module, "model", pl_module)
        frozen = frozen_at(self.groups, self.unfreeze_every, trainer.current_epoch)
        for name, param in model.named_parameters():
            param.requires_grad = name not in frozen
        still = set(norms_within(model, frozen))
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
