"""Regression: mean squared error; MSE, MAE and R^2 at validation and test."""

import lightning as L
import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from tuneforge.tasks._optimizers import OptimizerFactory, SchedulerFactory, configure_optimizers


def _metrics(prefix: str) -> torchmetrics.MetricCollection:
    from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

    return torchmetrics.MetricCollection(
        {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score()}, prefix=prefix
    )


class RegressionTask(L.LightningModule):
    """Trains any module that maps a batch of inputs to `num_outputs` numbers per sample.

    Args:
        model: the network; its trainable parameters are optimised.
        num_outputs: numbers predicted per sample, told by the data.
        optimizer: called with the param groups (no weight decay on biases, norms, embeddings).
        scheduler: called with the optimizer and, where it takes one, `total_steps`.
        target_mean, target_std: the training targets' statistics, told by the data. The model
            learns standardized targets (so a body mass in grams trains like one in kilograms);
            predictions and metrics are in the targets' own units.
    """

    def __init__(
        self,
        model: nn.Module,
        num_outputs: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        target_mean: float = 0.0,
        target_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_outputs = num_outputs
        self.target_mean = target_mean
        self.target_std = target_std
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.val_metrics = _metrics("val/")
        self.test_metrics = _metrics("test/")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions in the targets' units, (B, num_outputs)."""
        return self.model(x) * self.target_std + self.target_mean

    def _standardized_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.model(x), (y - self.target_mean) / self.target_std)

    def logged_metrics(self) -> set[str]:
        """Every metric name this task logs, for checking `monitor.metric` before training."""
        evaluated = {"loss", *self.val_metrics.keys(keep_base=True)}
        return {"train/loss"} | {f"{s}/{name}" for s in ("val", "test") for name in evaluated}

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self._standardized_loss(x, y)
        # As in ClassificationTask: log only the steps the Trainer writes.
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0 or batch_idx == 0:
            self.log("train/loss", loss, on_step=True, prog_bar=True)
        return loss

    def _evaluate(self, batch, metrics: torchmetrics.MetricCollection, stage: str) -> None:
        x, y = batch
        metrics.update(self(x).flatten(), y.flatten())
        loss = self._standardized_loss(x, y)
        self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log_dict(metrics, on_epoch=True, prog_bar=stage == "val", batch_size=len(y))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self(batch[0])  # (B, num_outputs)

    @staticmethod
    def prediction_columns(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """predictions.csv's columns: one `prediction` column per output."""
        if outputs.shape[1] == 1:
            return {"prediction": outputs[:, 0]}
        return {f"prediction_{i}": outputs[:, i] for i in range(outputs.shape[1])}

    def configure_optimizers(self):
        return configure_optimizers(
            self.model,
            self.optimizer_factory,
            self.scheduler_factory,
            int(self.trainer.estimated_stepping_batches),
        )
