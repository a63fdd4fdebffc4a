"""torchvision's ResNets behind our backbone interface, for any channel count and small images.

torchvision builds the network (and downloads its ImageNet weights when asked); this module
adapts the ends. The stem takes `input_shape[0]` channels, so grayscale images work. With
`small_stem` it is a 3x3 stride-1 convolution without max-pool, as the CIFAR ResNets have: the
ImageNet stem divides the image by 4 before the first block, which leaves a 28x28 or 32x32
image 7 or 8 pixels wide. The head is our `ClassifierHead` after global average pooling.

Parameter names stay torchvision's (`conv1`, `bn1`, `layer1.0.conv1`, ...) but for the
classifier, `head.fc` instead of `fc`: torchvision and timm ResNet checkpoints load once `fc.` is
renamed `head.fc.` (or dropped, for a new head).
"""

import logging
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from tuneforge.models._head import ClassifierHead, HeadedBackbone

log = logging.getLogger(__name__)


def adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB convolution weights (O, 3, k, k) for `in_channels` inputs, keeping the response scale.

    One channel gets the sum of the RGB filters (a gray image is R = G = B); more channels repeat
    them cyclically, scaled by 3 / in_channels (timm's `adapt_input_conv` does the same).
    """
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)  # (O, 3, k, k) -> (O, 1, k, k)
    repeats = -(-in_channels // 3)  # ceil division
    weight = weight.repeat(1, repeats, 1, 1)[:, :in_channels]  # -> (O, in_channels, k, k)
    return weight * (3 / in_channels)


def _torchvision_resnet(arch: str, pretrained: bool) -> nn.Module:
    """torchvision's `arch`, with its ImageNet weights when `pretrained`.

    Raises:
        ValueError: when the weights cannot be downloaded, saying where to put the file.
    """
    # Imported here: `import tuneforge.models` stays light for models that do not need it.
    import torchvision

    if not pretrained:
        return getattr(torchvision.models, arch)(weights=None)
    weights = torchvision.models.get_model_weights(arch).DEFAULT
    try:
        return getattr(torchvision.models, arch)(weights=weights)
    except OSError as ex:  # no network (URLError), or a cache folder that cannot be written
        filename = weights.url.rsplit("/", 1)[-1]
        target = f"{torch.hub.get_dir()}/checkpoints/{filename}"
        raise ValueError(
            f"pretrained=true could not download the {arch} weights ({ex}); download "
            f"{weights.url} where there is a network and put it at {target}"
        ) from ex


def _stem_conv(conv: nn.Conv2d, in_channels: int, small_stem: bool, pretrained: bool) -> nn.Module:
    """torchvision's first convolution `conv`, or one for `in_channels` and small images."""
    if not small_stem and in_channels == 3:
        return conv
    kernel, stride, padding = (3, 1, 1) if small_stem else (7, 2, 3)
    new = nn.Conv2d(in_channels, 64, kernel, stride=stride, padding=padding, bias=False)
    if pretrained and not small_stem:
        with torch.no_grad():
            new.weight.copy_(adapt_input_conv(conv.weight, in_channels))
    else:  # torchvision's initialisation of its convolutions
        nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    return new


class ResNet(HeadedBackbone):
    """A torchvision ResNet sized by the data: stem for its channels, head for its classes.

    Args:
        num_classes: outputs of the classifier (0: no classifier, features only).
        input_shape: (channels, height, width) of one input, told by the data.
        arch: which torchvision ResNet.
        small_stem: 3x3 stride-1 stem without max-pool, for images of about 32x32 and smaller.
        pretrained: start from torchvision's ImageNet weights (downloaded once into the torch hub
            cache). The classifier is new; with `small_stem` the stem is new too, since a 7x7
            stride-2 filter bank does not fit a 3x3 convolution.
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        num_classes: int,
        input_shape: Sequence[int],
        arch: Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"] = "resnet18",
        small_stem: bool = False,
        pretrained: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if arch not in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
            raise ValueError(
                f"arch={arch!r} is not a ResNet; choose one of: resnet18, resnet34, resnet50, "
                "resnet101, resnet152"
            )
        in_channels = input_shape[0]
        net = _torchvision_resnet(arch, pretrained)
        self.conv1 = _stem_conv(net.conv1, in_channels, small_stem, pretrained)
        self.bn1 = net.bn1
        self.relu = net.relu
        # The max-pool would halve a small image once more before the first block.
        self.maxpool = nn.Identity() if small_stem else net.maxpool
        self.layer1 = net.layer1  # stride 1: (B, 64, H', W') -> (B, 64 or 256, H', W')
        self.layer2 = net.layer2  # each next stage halves the image and doubles the channels
        self.layer3 = net.layer3
        self.layer4 = net.layer4
        self.num_features = net.fc.in_features  # 512 for resnet18/34, 2048 for the bottlenecks
        self.head = ClassifierHead(self.num_features, num_classes, dropout)
        if pretrained:
            new = "classifier and stem" if small_stem else "classifier"
            log.info("%s: ImageNet weights loaded; new %s", arch, new)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, C, H, W) -> (B, 64, H', W')
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x  # (B, num_features, H' / 8, W' / 8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=(2, 3))  # global average pool: (B, C, H, W) -> (B, C)
        return self.head(x, pre_logits=pre_logits)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's ResNet convention).

        timm reads a regex's groups as layer numbers, so alternatives are non-capturing (?:).
        """
        return {
            "stem": r"^(?:conv1|bn1)\.",
            "blocks": r"^layer(\d+)\." if coarse else r"^layer(\d+)\.(\d+)\.",
        }
