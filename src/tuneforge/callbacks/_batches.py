"""What a batch holds, for the callbacks that look at batches: a loader gives its inputs alone, or
(inputs, targets) pairs, and the callbacks ask here rather than each unpacking batches its way."""

from typing import Any

import torch


def batch_inputs(batch: Any) -> Any:
    """A batch's inputs: the first element of an (inputs, targets) pair."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def batch_labels(batch: Any) -> torch.Tensor | None:
    """A batch's class labels, (B,) integers; None where the targets are not class labels
    (regression numbers, a language model's next tokens, MixUp's soft labels)."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        return None
    targets = batch[1]
    is_labels = isinstance(targets, torch.Tensor) and targets.ndim == 1
    return targets if is_labels and not targets.is_floating_point() else None
