"""What every supervised task shares: the optimizer over decay groups with a per-step schedule,
the cadence of train-loss logging, and metrics logged the same way at validation and test."""

import inspect
from collections.abc import Callable

import lightning as L
import torch
import torchmetrics
from torch import nn
from torch.optim import Optimizer

from tuneforge.tasks.param_groups import decay_groups

OptimizerFactory = Callable[[list[dict]], Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def configure_optimizers(
    model: nn.Module,
    optimizer_factory: OptimizerFactory,
    scheduler_factory: SchedulerFactory | None,
    total_steps: int,
    lr_scales: dict[str, float] | None = None,
):
    """Lightning's `configure_optimizers` answer for `model`'s trainable parameters; with
    `lr_scales`, each layer's groups get the factory's `lr` times their scale."""
    base_lr = getattr(optimizer_factory, "keywords", {}).get("lr")
    optimizer = optimizer_factory(decay_groups(model, lr_scales, base_lr))
    if scheduler_factory is None:
        return optimizer
    if "total_steps" in inspect.signature(scheduler_factory).parameters:
        scheduler = scheduler_factory(optimizer, total_steps=total_steps)
    else:
        scheduler = scheduler_factory(optimizer)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class SupervisedTask(L.LightningModule):
    """A model trained on (input, target) batches. Subclasses set `val_metrics` and
    `test_metrics` and define `training_step`, `_evaluate` and `predict_step`."""

    val_metrics: torchmetrics.MetricCollection
    test_metrics: torchmetrics.MetricCollection

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None,
    ) -> None:
        super().__init__()
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        # Set by fine-tuning: learning-rate scale per parameter name, and BatchNorm layers whose
        # statistics stay frozen (evaluated even while the rest trains).
        self.lr_scales: dict[str, float] = {}
        self.frozen_norms: list[str] = []
        # The evaluation loss as a metric: under DDP its mean is over every rank's samples, as one
        # process's would be (a logged tensor would be each rank's own mean).
        self.eval_losses = nn.ModuleDict({s: torchmetrics.MeanMetric() for s in ("val", "test")})

    def train(self, mode: bool = True) -> "SupervisedTask":
        super().train(mode)
        if mode:
            modules = dict(self.model.named_modules())
            for name in self.frozen_norms:
                modules[name].eval()
        return self

    def logged_metrics(self) -> set[str]:
        """Every metric name this task logs, for checking `monitor.metric` before training."""
        evaluated = {"loss", *self.val_metrics.keys(keep_base=True)}
        return {"train/loss"} | {f"{s}/{name}" for s in ("val", "test") for name in evaluated}

    def log_train_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        # self.log costs about half a millisecond per call, a tenth of a small model's step; the
        # Trainer writes step metrics only every log_every_n_steps, so log just those steps.
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0 or batch_idx == 0:
            self.log("train/loss", loss, on_step=True, prog_bar=True)

    def log_evaluation(
        self, loss: torch.Tensor, metrics: torchmetrics.MetricCollection, stage: str, size: int
    ) -> None:
        mean_loss = self.eval_losses[stage]
        mean_loss.update(loss, weight=size)
        self.log(f"{stage}/loss", mean_loss, on_epoch=True, prog_bar=True, batch_size=size)
        self.log_dict(metrics, on_epoch=True, prog_bar=stage == "val", batch_size=size)

    def _evaluate(self, batch, metrics: torchmetrics.MetricCollection, stage: str) -> None:
        raise NotImplementedError

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")

    def configure_optimizers(self):
        return configure_optimizers(
            self.model,
            self.optimizer_factory,
            self.scheduler_factory,
            int(self.trainer.estimated_stepping_batches),
            self.lr_scales,
        )
