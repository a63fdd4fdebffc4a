"""What the callbacks that draw in TensorBoard share: finding its writer, telling a batch of
images or class labels from any other batch (the callbacks ask the data, never a model class),
and the two moments most of them draw at: the first training batch, and a classifier's test
batches."""

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.tensorboard import SummaryWriter

from tuneforge.callbacks._base import Callback
from tuneforge.callbacks._batches import batch_inputs, batch_labels


def tensorboard_writer(trainer: L.Trainer) -> SummaryWriter | None:
    """The run's TensorBoard writer on rank 0; None on other ranks or without a TensorBoard
    logger, where a callback has nothing to draw on."""
    from lightning.pytorch.loggers import TensorBoardLogger

    if not trainer.is_global_zero:
        return None
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def logits_and_labels(outputs: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A classifier's test batch: the logits its `test_step` returned, (B, classes), and the
    class labels, (B,); None for any other task's batch."""
    labels = batch_labels(batch)
    if not isinstance(outputs, torch.Tensor) or outputs.ndim != 2 or labels is None:
        return None
    return outputs.detach(), labels


def is_image_batch(inputs: Any) -> bool:
    """Inputs a person can look at as pictures: float (B, C, H, W) with 1 or 3 channels."""
    return (
        isinstance(inputs, torch.Tensor)
        and inputs.ndim == 4
        and inputs.shape[1] in (1, 3)
        and inputs.is_floating_point()
    )


def for_display(images: torch.Tensor) -> torch.Tensor:
    """Images scaled to [0, 1] one by one, as float32 on the CPU: the loaders hand normalized
    images (and augmentation may shift them), whose own range is what shows their content."""
    images = images.detach().float().cpu()
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    return (images - low) / (high - low).clamp_min(1e-12)


def data_class_names(trainer: L.Trainer) -> list[str]:
    """The data's names for its classes (its spec's, or the DataModule's `class_names`); empty
    where it names none."""
    datamodule = trainer.datamodule
    spec = getattr(datamodule, "spec", None) or {}
    names: Sequence[str] = spec.get("class_names") or getattr(datamodule, "class_names", ())
    return [str(name) for name in names]


def class_names(trainer: L.Trainer, num_classes: int) -> list[str]:
    """A name for each of `num_classes` classes: the data's, else the class indices."""
    names = data_class_names(trainer)
    return names if len(names) == num_classes else [str(index) for index in range(num_classes)]


class FirstTrainingBatchView(Callback):
    """A view drawn once, from the first training batch of a fresh run (a resumed run has it
    already), where a TensorBoard logger is there to draw in."""

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step > 0 or batch_idx > 0:
            return
        writer = tensorboard_writer(trainer)
        if writer is not None:
            self.draw(writer, pl_module, batch_inputs(batch))

    def draw(self, writer: SummaryWriter, pl_module: L.LightningModule, inputs: Any) -> None:
        raise NotImplementedError


class ClassifierTestView(Callback):
    """A view of a classifier's test set, handed the logits and labels of each test batch;
    another task's test batches pass it by."""

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        classified = logits_and_labels(outputs, batch)
        if classified is not None:
            self.add_batch(trainer, *classified, batch)

    def add_batch(
        self, trainer: L.Trainer, logits: torch.Tensor, labels: torch.Tensor, batch: Any
    ) -> None:
        raise NotImplementedError
