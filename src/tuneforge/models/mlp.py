"""A multi-layer perceptron over flattened inputs: Linear-LayerNorm-GELU blocks, then a head."""

import math
from collections.abc import Sequence

import torch
from torch import nn

from tuneforge.models._head import ClassifierHead, HeadedBackbone


class MLP(HeadedBackbone):
    """`depth` hidden blocks of `width` units.

    Args:
        num_classes: outputs of the classifier (0: no classifier, features only).
        input_shape: shape of one input, told by the data; it is flattened.
        width: units per hidden block.
        depth: number of hidden blocks.
        dropout: dropout inside each block and before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        width: int = 128,
        depth: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_features = math.prod(input_shape)
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Linear(in_features if i == 0 else width, width),
                    nn.LayerNorm(width),
                    nn.GELU(),
                    nn.Dropout(dropout),
                )
                for i in range(depth)
            )
        )
        self.num_features = width if depth > 0 else in_features
        self.head = ClassifierHead(self.num_features, num_classes, dropout)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x.flatten(1))  # (B, *input_shape) -> (B, num_features)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention)."""
        return {"blocks": r"^blocks\.(\d+)"}
