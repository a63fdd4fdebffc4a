"""What our classifier backbones share: the head (dropout, then one Linear layer), and the part
of timm's interface that only depends on it."""

import torch
from torch import nn


class ClassifierHead(nn.Module):
    """Dropout and a linear classifier over pooled features; `num_classes=0` gives identity."""

    def __init__(self, num_features: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x, pre_logits: bool = False):
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one for `num_classes` outputs."""
        num_features = self.fc.in_features if isinstance(self.fc, nn.Linear) else None
        if num_features is None:
            raise ValueError("a head built with num_classes=0 does not know its input width")
        self.fc = nn.Linear(num_features, num_classes) if num_classes > 0 else nn.Identity()


class HeadedBackbone(nn.Module):
    """A backbone whose classifier is `self.head`, a ClassifierHead. Subclasses define
    `forward_features` and `forward_head`; the rest of timm's interface follows from them."""

    head: ClassifierHead

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.head.reset(num_classes)
