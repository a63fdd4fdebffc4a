"""Classification: cross-entropy with label smoothing; accuracy and macro precision, recall, F1."""

from collections.abc import Callable

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from tuneforge.tasks._supervised import OptimizerFactory, SchedulerFactory, SupervisedTask


def _metrics(num_classes: int, prefix: str) -> torchmetrics.MetricCollection:
    from torchmetrics.classification import (
        MulticlassAccuracy,
        MulticlassF1Score,
        MulticlassPrecision,
        MulticlassRecall,
    )

    return torchmetrics.MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "precision": MulticlassPrecision(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="macro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        },
        prefix=prefix,
    )


class ClassificationTask(SupervisedTask):
    """Trains any module that maps a batch of inputs to class logits.

    Args:
        model: the network; its trainable parameters are optimised.
        num_classes: number of classes, told by the data.
        optimizer: called with the param groups (no weight decay on biases, norms, embeddings).
        scheduler: called with the optimizer and, where it takes one, `total_steps`; stepped
            every optimizer step. None keeps the learning rate constant.
        label_smoothing: share of the target mass spread over all classes.
        channels_last: keep the model's weights and 4D inputs in channels-last memory order,
            which convolutions on CPUs and tensor cores run faster in.
        batch_transform: applied to each training batch (x, y) -> (x, soft labels), e.g. MixUp.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        channels_last: bool = False,
        batch_transform: Callable[[torch.Tensor, torch.Tensor], tuple] | None = None,
    ) -> None:
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        super().__init__(model, optimizer, scheduler)
        self.batch_transform = batch_transform
        self.channels_last = channels_last
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.val_metrics = _metrics(num_classes, "val/")
        self.test_metrics = _metrics(num_classes, "test/")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.batch_transform is not None:
            x, y = self.batch_transform(x, y)  # y: (B, num_classes) soft labels
        loss = self._loss(self(x), y)
        self.log_train_loss(loss, batch_idx)
        return loss

    def _evaluate(self, batch, metrics: torchmetrics.MetricCollection, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        # Label smoothing is a training device: report the plain cross-entropy.
        loss = F.cross_entropy(logits, y)
        metrics.update(logits, y)
        self.log_evaluation(loss, metrics, stage, len(y))
        return logits

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        """The batch's logits, (B, num_classes), for callbacks' `on_test_batch_end`: the
        confusion matrix, PR curves and worst misclassified images are drawn from them."""
        return self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Class probabilities, (B, num_classes)."""
        return self(batch[0]).softmax(dim=-1)

    @staticmethod
    def prediction_columns(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """predictions.csv's columns from the concatenated `predict_step` outputs."""
        probability, prediction = outputs.max(dim=1)
        return {"prediction": prediction, "probability": probability}
