"""A small CNN for small images: conv-BN-ReLU blocks, each halving the image, then a head.

Sized for 8x8 to 32x32 inputs (digits, MNIST, CIFAR). Blocks stop halving once the image is
down to 2x2, so the same config runs on any of them.
"""

from collections.abc import Sequence

import torch
from torch import nn

from tuneforge.models._head import ClassifierHead, HeadedBackbone


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    # No conv bias: BatchNorm's shift does its job.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CNN(HeadedBackbone):
    """`depth` blocks of two conv-BN-ReLU layers; block i has width * 2**i channels.

    Args:
        num_classes: outputs of the classifier (0: no classifier, features only).
        input_shape: (channels, height, width) of one input, told by the data.
        width: channels of the first block.
        depth: number of blocks.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        width: int = 32,
        depth: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels, height, _ = input_shape
        blocks = []
        channels = in_channels
        for i in range(depth):
            out_channels = width * 2**i
            layers = [
                conv_bn_relu(channels, out_channels),
                conv_bn_relu(out_channels, out_channels),
            ]
            if height > 2:
                layers.append(nn.MaxPool2d(2))
                height //= 2
            blocks.append(nn.Sequential(*layers))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.num_features = channels
        self.head = ClassifierHead(self.num_features, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)  # (B, C, H, W) -> (B, num_features, H', W')

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(
            dim=(2, 3)
        )  # global average pool: (B, num_features, H', W') -> (B, num_features)
        return self.head(x, pre_logits=pre_logits)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention)."""
        return {"blocks": r"^blocks\.(\d+)" if coarse else r"^blocks\.(\d+)\.(\d+)"}
