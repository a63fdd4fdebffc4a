"""Show the images a model sees and the ones it gets wrong, in TensorBoard's Images tab.

Both callbacks look at the batches themselves: on data that are not pictures (token ids, table
rows) they do nothing.
"""

from typing import Any

import lightning as L
import torch
from torch.nn import functional as F

from tuneforge.callbacks._batches import batch_inputs
from tuneforge.callbacks._tensorboard import (
    ClassifierTestView,
    FirstTrainingBatchView,
    class_names,
    for_display,
    is_image_batch,
    tensorboard_writer,
)

# Tiles smaller than this many pixels are enlarged (nearest neighbour) so they can be seen.
_MIN_TILE_PIXELS = 32


def _enlarged(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) images scaled up by a whole factor until the smaller side reaches
    `_MIN_TILE_PIXELS`, pixels kept sharp."""
    factor = -(-_MIN_TILE_PIXELS // min(images.shape[-2:]))  # ceiling division
    return F.interpolate(images, scale_factor=factor, mode="nearest") if factor > 1 else images


class TrainingImages(FirstTrainingBatchView):
    """The first training batch of a fresh run as a grid, `data/train_images`: the images after
    cleaning and augmentation, as the model receives them (before MixUp or CutMix, which mix
    batches inside the training step).

    Args:
        max_images: images shown from the batch.
    """

    def __init__(self, max_images: int = 64) -> None:
        self.max_images = max_images

    def draw(self, writer: Any, pl_module: L.LightningModule, images: Any) -> None:
        if not is_image_batch(images):
            return
        from torchvision.utils import make_grid

        shown = _enlarged(for_display(images[: self.max_images]))
        writer.add_image("data/train_images", make_grid(shown, nrow=8, pad_value=1.0), 0)


class MisclassifiedImages(ClassifierTestView):
    """The test images the model gets most wrong (lowest probability for the true class), each
    titled with its true and predicted class, as `test/misclassified`.

    It reads the logits a classification task's `test_step` returns; under DDP rank 0 shows the
    worst of its own share of the test set.

    Args:
        max_images: images shown.
    """

    def __init__(self, max_images: int = 32) -> None:
        self.max_images = max_images
        self._worst: dict[str, torch.Tensor] | None = None
        self._num_classes = 0

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._worst = None

    def add_batch(
        self, trainer: L.Trainer, logits: torch.Tensor, labels: torch.Tensor, batch: Any
    ) -> None:
        images = batch_inputs(batch)
        if not is_image_batch(images) or tensorboard_writer(trainer) is None:
            return
        self._num_classes = logits.shape[1]
        probabilities = logits.float().softmax(dim=1)
        predicted = probabilities.argmax(dim=1)
        wrong = predicted != labels
        batch_worst = {
            "images": images[wrong].detach().cpu(),
            "true": labels[wrong].cpu(),
            "predicted": predicted[wrong].cpu(),
            "probability": probabilities[wrong, predicted[wrong]].cpu(),
            "true_probability": probabilities[wrong, labels[wrong]].cpu(),
        }
        self._worst = self._keep_worst(batch_worst)

    def _keep_worst(self, batch_worst: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The `max_images` worst of those kept so far and this batch's, so memory stays bounded
        however large the test set."""
        if self._worst is not None:
            batch_worst = {k: torch.cat([self._worst[k], v]) for k, v in batch_worst.items()}
        order = batch_worst["true_probability"].argsort()[: self.max_images]
        return {key: value[order] for key, value in batch_worst.items()}

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        if writer is None or self._worst is None or len(self._worst["true"]) == 0:
            return
        from tuneforge.figures import labelled_images_figure

        names = class_names(trainer, self._num_classes)
        worst = self._worst
        pairs = zip(worst["true"].tolist(), worst["predicted"].tolist(), strict=True)
        titles = [
            f"true {names[true]}\npred {names[predicted]} ({probability:.2f})"
            for (true, predicted), probability in zip(
                pairs, worst["probability"].tolist(), strict=True
            )
        ]
        figure = labelled_images_figure(for_display(worst["images"]), titles)
        writer.add_figure("test/misclassified", figure, trainer.global_step)
        self._worst = None
