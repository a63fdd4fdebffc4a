"""Transforms of whole training batches: MixUp and CutMix, which mix images and their labels."""

from collections.abc import Callable

import torch

BatchTransform = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def mix_batches(num_classes: int, mixup_alpha: float, cutmix_alpha: float) -> BatchTransform | None:
    """torchvision's MixUp, CutMix, or a coin flip between them; None when both alphas are 0.

    The transform returns soft labels, (B, num_classes) rows summing to 1, which cross-entropy
    takes as they are.
    """
    from torchvision.transforms import v2

    mixers = []
    if mixup_alpha > 0:
        mixers.append(v2.MixUp(alpha=mixup_alpha, num_classes=num_classes))
    if cutmix_alpha > 0:
        mixers.append(v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes))
    if not mixers:
        return None
    return mixers[0] if len(mixers) == 1 else v2.RandomChoice(mixers)
