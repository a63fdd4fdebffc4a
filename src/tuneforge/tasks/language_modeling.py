"""Language modeling: next-token cross-entropy; perplexity and bits per character."""

import math

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from tuneforge.tasks._supervised import OptimizerFactory, SchedulerFactory, SupervisedTask


class Perplexity(torchmetrics.MeanMetric):
    """exp of the mean token cross-entropy, over the whole split (not a mean of batch values)."""

    def compute(self) -> torch.Tensor:
        return super().compute().exp()


class BitsPerCharacter(torchmetrics.MeanMetric):
    """Mean token cross-entropy in bits, spread over the characters each token stands for, so
    character and BPE models compare on the same scale."""

    def __init__(self, chars_per_token: float) -> None:
        super().__init__()
        self.scale = 1.0 / (math.log(2) * chars_per_token)

    def compute(self) -> torch.Tensor:
        return super().compute() * self.scale


def _metrics(chars_per_token: float, prefix: str) -> torchmetrics.MetricCollection:
    return torchmetrics.MetricCollection(
        {"perplexity": Perplexity(), "bpc": BitsPerCharacter(chars_per_token)}, prefix=prefix
    )


class LanguageModelingTask(SupervisedTask):
    """Trains a model that maps token ids (B, T) to next-token logits (B, T, vocab_size).

    Args:
        model: the network; a model with `generate()` also gets sampled from (see
            `tuneforge.callbacks.GeneratedText`).
        optimizer: called with the param groups (no weight decay on biases, norms, embeddings).
        scheduler: called with the optimizer and, where it takes one, `total_steps`.
        chars_per_token: characters per token in the validation text, told by the data (1 for a
            character vocabulary); converts the loss to bits per character.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        chars_per_token: float = 1.0,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        self.val_metrics = _metrics(chars_per_token, "val/")
        self.test_metrics = _metrics(chars_per_token, "test/")
        self._last_batch_shape: torch.Size | None = None  # for flops_per_batch

    @property
    def flops_per_batch(self) -> int | None:
        """FLOPs of the last batch, read by Lightning's ThroughputMonitor for MFU: forward and
        backward while training, forward alone (a third) while evaluating; None for a model that
        does not count its FLOPs (`flops_per_token`)."""
        if self._last_batch_shape is None or not hasattr(self.model, "flops_per_token"):
            return None
        batch, context = self._last_batch_shape
        flops = self.model.flops_per_token(context) * batch * context
        return flops if self.training else flops // 3

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self._last_batch_shape = idx.shape
        return self.model(idx)

    @staticmethod
    def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # (B, T, vocab_size) against (B, T): every position is a prediction
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self._loss(self(x), y)
        self.log_train_loss(loss, batch_idx)
        return loss

    def _evaluate(self, batch, metrics: torchmetrics.MetricCollection, stage: str) -> None:
        x, y = batch
        loss = self._loss(self(x), y)
        metrics.update(loss, weight=y.numel())  # a token mean, whatever the batch sizes
        self.log_evaluation(loss, metrics, stage, len(y))

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        """Each window's mean next-token cross-entropy, (B,)."""
        x, y = batch[0], batch[1]
        logits = self(x)
        losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # (B, T)
        return losses.mean(dim=1)

    @staticmethod
    def prediction_columns(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """predictions.csv's columns: each window's loss and perplexity."""
        return {"loss": outputs, "perplexity": outputs.exp()}
