"""Regression: mean squared error; MSE, MAE and R^2 at validation and test."""

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from tuneforge.tasks._supervised import OptimizerFactory, SchedulerFactory, SupervisedTask


def _metrics(prefix: str) -> torchmetrics.MetricCollection:
    from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

    return torchmetrics.MetricCollection(
        {"mse": MeanSquaredError(), "mae": MeanAbsoluteError(), "r2": R2Score()}, prefix=prefix
    )


class RegressionTask(SupervisedTask):
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
        super().__init__(model, optimizer, scheduler)
        self.num_outputs = num_outputs
        self.target_mean = target_mean
        self.target_std = target_std
        self.val_metrics = _metrics("val/")
        self.test_metrics = _metrics("test/")

    def _in_units(self, standardized: torch.Tensor) -> torch.Tensor:
        return standardized * self.target_std + self.target_mean

    def _standardized_loss(self, standardized: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(standardized, (y - self.target_mean) / self.target_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions in the targets' units, (B, num_outputs)."""
        return self._in_units(self.model(x))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self._standardized_loss(self.model(x), y)
        self.log_train_loss(loss, batch_idx)
        return loss

    def _evaluate(self, batch, metrics: torchmetrics.MetricCollection, stage: str) -> None:
        x, y = batch
        standardized = self.model(x)  # (B, num_outputs)
        metrics.update(self._in_units(standardized).flatten(), y.flatten())
        self.log_evaluation(self._standardized_loss(standardized, y), metrics, stage, len(y))

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self(batch[0])  # (B, num_outputs)

    @staticmethod
    def prediction_columns(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """predictions.csv's columns: one `prediction` column per output."""
        if outputs.shape[1] == 1:
            return {"prediction": outputs[:, 0]}
        return {f"prediction_{i}": outputs[:, i] for i in range(outputs.shape[1])}
