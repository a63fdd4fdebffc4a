"""How a classifier trades precision for recall on the test set: one PR curve per class, in
TensorBoard's PR Curves tab."""

from typing import Any

import lightning as L
import torch

from tuneforge.callbacks._tensorboard import ClassifierTestView, class_names, tensorboard_writer


class PrCurves(ClassifierTestView):
    """At the end of a test of a classifier, `test/pr_curve/CLASS` for each class, one vs rest
    on the softmax probabilities.

    The probabilities are binned as each batch arrives, as TensorBoard's own `add_pr_curve`
    bins them, so memory does not grow with the test set and the counts sum over DDP ranks.

    Args:
        num_thresholds: points on each curve (TensorBoard draws at most 127).
    """

    def __init__(self, num_thresholds: int = 127) -> None:
        self.num_thresholds = num_thresholds
        # (classes, thresholds): samples of each class, and of the other classes, per bin
        self._positives: torch.Tensor | None = None
        self._negatives: torch.Tensor | None = None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._positives = self._negatives = None

    def add_batch(
        self, trainer: L.Trainer, logits: torch.Tensor, labels: torch.Tensor, batch: Any
    ) -> None:
        num_classes, bins = logits.shape[1], self.num_thresholds
        probabilities = logits.float().softmax(dim=1)  # (B, classes)
        bucket = (probabilities * (bins - 1)).long()  # (B, classes), in [0, bins - 1]
        cells = (torch.arange(num_classes, device=bucket.device) * bins + bucket).flatten()
        is_class = torch.nn.functional.one_hot(labels, num_classes).flatten().bool()
        size = num_classes * bins
        positives = torch.bincount(cells[is_class], minlength=size).view(num_classes, bins)
        negatives = torch.bincount(cells[~is_class], minlength=size).view(num_classes, bins)
        if self._positives is None:
            self._positives, self._negatives = positives, negatives
        else:
            self._positives += positives
            self._negatives += negatives

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._positives is None:
            return
        # Every rank takes part in the sums; rank 0 writes.
        positives = trainer.strategy.reduce(self._positives, reduce_op="sum").cpu().double()
        negatives = trainer.strategy.reduce(self._negatives, reduce_op="sum").cpu().double()
        self._positives = self._negatives = None
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        # At threshold i, the samples in bins i and above are predicted positive.
        true_positives = positives.flip(1).cumsum(1).flip(1)
        false_positives = negatives.flip(1).cumsum(1).flip(1)
        true_negatives = false_positives[:, :1] - false_positives
        false_negatives = true_positives[:, :1] - true_positives
        precision = true_positives / (true_positives + false_positives).clamp_min(1e-7)
        recall = true_positives / (true_positives + false_negatives).clamp_min(1e-7)
        for index, name in enumerate(class_names(trainer, positives.shape[0])):
            writer.add_pr_curve_raw(
                f"test/pr_curve/{name}",
                true_positives[index],
                false_positives[index],
                true_negatives[index],
                false_negatives[index],
                precision[index],
                recall[index],
                trainer.global_step,
                num_thresholds=self.num_thresholds,
            )
