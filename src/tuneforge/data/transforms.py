"""Image transforms for configs that serve images of any size."""

import torch
from torch.nn import functional as F


class RandomShiftCrop:
    """Pad by `padding` pixels (zeros), then crop a random window of the original size.

    torchvision's RandomCrop does the same but must be told the image size, which a config group
    shared by 28x28 and 32x32 sets cannot know.
    """

    def __init__(self, padding: int = 4) -> None:
        if padding < 0:
            raise ValueError(f"padding={padding} must be >= 0")
        self.padding = padding

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if self.padding == 0:
            return image
        height, width = image.shape[-2:]
        padded = F.pad(image, (self.padding,) * 4)
        top, left = torch.randint(0, 2 * self.padding + 1, (2,)).tolist()
        return padded[..., top : top + height, left : left + width]
