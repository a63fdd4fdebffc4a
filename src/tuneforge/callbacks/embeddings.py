"""What the backbone has learnt: test-set features in TensorBoard's Projector, labelled with their
class (and shown as thumbnails for images)."""

from typing import Any, Protocol, runtime_checkable

import lightning as L
import torch
from torch.nn import functional as F

from tuneforge.callbacks._base import Callback
from tuneforge.callbacks._batches import batch_inputs
from tuneforge.callbacks._tensorboard import (
    data_class_names,
    for_display,
    is_image_batch,
    tensorboard_writer,
)

# Thumbnails larger than this many pixels a side are shrunk: the projector's sprite of up to
# max_points of them stays a few MB.
_THUMBNAIL_PIXELS = 32


@runtime_checkable
class HasFeatures(Protocol):
    """A backbone with timm's interface: features, then pooling and head."""

    def forward_features(self, x: Any) -> Any: ...

    def forward_head(self, x: Any, pre_logits: bool = False) -> torch.Tensor: ...


class Embeddings(Callback):
    """The pooled backbone features (`forward_head(forward_features(x), pre_logits=True)`) of
    the first `max_points` test samples, as the `test/embeddings` projector.

    Class labels name each point; targets that are numbers (regression) label it with the value.
    A model without `forward_features` (a language model) is left alone. Under DDP rank 0 shows
    points of its own share of the test set.

    Args:
        max_points: test samples embedded; the projector's PCA and t-SNE stay quick below a few
            thousand.
    """

    def __init__(self, max_points: int = 1000) -> None:
        self.max_points = max_points
        self._collected: dict[str, list] = {}
        self._count = 0

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._collected = {"features": [], "targets": [], "images": []}
        self._count = 0

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        model = getattr(pl_module, "model", pl_module)
        wanted = self.max_points - self._count
        if wanted <= 0 or not isinstance(model, HasFeatures):
            return
        if tensorboard_writer(trainer) is None:
            return
        inputs = batch_inputs(batch)[:wanted]
        features = model.forward_head(model.forward_features(inputs), pre_logits=True)
        self._collected["features"].append(features.detach().float().flatten(1).cpu())
        if isinstance(batch, (tuple, list)) and len(batch) > 1:
            self._collected["targets"].append(batch[1][:wanted].detach().cpu())
        if is_image_batch(inputs):
            self._collected["images"].append(_thumbnails(inputs))
        self._count += len(features)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        collected, self._collected, self._count = self._collected, {}, 0
        if writer is None or not collected.get("features"):
            return
        features = torch.cat(collected["features"])
        writer.add_embedding(
            features,
            metadata=_point_labels(trainer, collected["targets"]),
            label_img=torch.cat(collected["images"]) if collected["images"] else None,
            global_step=trainer.global_step,
            tag="test/embeddings",
        )


def _thumbnails(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1], shrunk to at most `_THUMBNAIL_PIXELS` a side."""
    shown = for_display(images)
    if max(shown.shape[-2:]) > _THUMBNAIL_PIXELS:
        shown = F.interpolate(shown, size=_THUMBNAIL_PIXELS, mode="bilinear", antialias=True)
    return shown


def _point_labels(trainer: L.Trainer, targets: list[torch.Tensor]) -> list[str] | None:
    """One label per point: the class name for a class label, the value for a single number;
    None (no labels) for other targets, such as a language model's next tokens."""
    if not targets:
        return None
    values = torch.cat(targets)
    if values.ndim == 2 and values.shape[1] == 1:  # one regression output, (N, 1)
        values = values[:, 0]
    if values.ndim != 1:
        return None
    if values.is_floating_point():
        return [f"{value:.4g}" for value in values.tolist()]
    names = data_class_names(trainer)
    return [names[i] if i < len(names) else str(i) for i in values.tolist()]
