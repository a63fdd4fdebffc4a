"""Where a classifier errs on the test set: the confusion matrix (TensorBoard image and a CSV in
the run folder) and each class's precision, recall and F1 as a table."""

import csv
from pathlib import Path
from typing import Any

import lightning as L
import torch

from tuneforge.atomic_files import atomic_path
from tuneforge.callbacks._tensorboard import ClassifierTestView, class_names, tensorboard_writer


def write_confusion_csv(path: Path, counts: torch.Tensor, names: list[str]) -> None:
    """Counts as CSV: a `true` column of true class names, then one column per predicted class.

    Written whole or not at all (`atomic_path`), so a reader never sees half a table.
    """
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        table = csv.writer(handle)
        table.writerow(["true", *names])
        for name, row in zip(names, counts.tolist(), strict=True):
            table.writerow([name, *row])


def per_class_table(counts: torch.Tensor, names: list[str]) -> str:
    """Precision, recall, F1 and support of each class, from confusion counts, as Markdown."""
    counts = counts.double()
    hits = counts.diagonal()
    precision = hits / counts.sum(dim=0).clamp_min(1)  # column sums: predicted as the class
    recall = hits / counts.sum(dim=1).clamp_min(1)  # row sums: truly the class
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    support = counts.sum(dim=1).long()
    rows = ["| class | precision | recall | F1 | support |", "| --- | ---: | ---: | ---: | ---: |"]
    for index, name in enumerate(names):
        rows.append(
            f"| {name} | {precision[index]:.3f} | {recall[index]:.3f} | {f1[index]:.3f} "
            f"| {support[index]} |"
        )
    return "\n".join(rows)


class ConfusionMatrix(ClassifierTestView):
    """At the end of a test of a classifier: `test/confusion_matrix` (rows true classes,
    columns predicted, colours normalized per row) and `test/per_class` (precision, recall, F1)
    in TensorBoard, and the counts in `csv_path` for plots and reports.

    It counts from the logits a classification task's `test_step` returns, and sums the counts
    over DDP ranks; other tasks' tests are left alone. Without a TensorBoard logger the CSV is
    still written.

    Args:
        csv_path: where the counts go (rank 0 writes it); None: no file.
    """

    def __init__(self, csv_path: str | None = None) -> None:
        self.csv_path = Path(csv_path) if csv_path else None
        self._counts: torch.Tensor | None = None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._counts = None

    def add_batch(
        self, trainer: L.Trainer, logits: torch.Tensor, labels: torch.Tensor, batch: Any
    ) -> None:
        num_classes = logits.shape[1]
        cells = labels * num_classes + logits.argmax(dim=1)  # row true, column predicted
        counts = torch.bincount(cells, minlength=num_classes**2).view(num_classes, num_classes)
        self._counts = counts if self._counts is None else self._counts + counts

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._counts is None:
            return
        # Every rank takes part in the sum; rank 0 writes.
        counts = trainer.strategy.reduce(self._counts, reduce_op="sum").cpu()
        self._counts = None
        if not trainer.is_global_zero:
            return
        names = class_names(trainer, counts.shape[0])
        if self.csv_path is not None:
            write_confusion_csv(self.csv_path, counts, names)
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        step = trainer.global_step
        from tuneforge.figures import confusion_matrix_figure  # matplotlib: only when drawing

        writer.add_figure("test/confusion_matrix", confusion_matrix_figure(counts, names), step)
        writer.add_text("test/per_class", per_class_table(counts, names), step)
