"""Datasets over in-memory tensors, and the seeded stratified split that every small set uses."""

from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset


class TensorClassificationDataset(Dataset):
    """(input, label) pairs from two tensors; `transforms` apply to each input in turn."""

    def __init__(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        self.inputs = inputs
        self.labels = labels
        self.transforms = list(transforms)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.inputs[index]
        for transform in self.transforms:
            x = transform(x)
        return x, self.labels[index]


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raises ValueError unless the held-out fractions leave data to train on."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must each lie in "
            "[0, 1) with val_fraction > 0 and a sum below 1, so that some data is left to train on"
        )


def stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, val and test, each with the class balance of the whole set."""
    check_fractions(val_fraction, test_fraction)
    indices = np.arange(len(labels))
    rest, test = (
        train_test_split(indices, test_size=test_fraction, random_state=seed, stratify=labels)
        if test_fraction > 0
        else (indices, indices[:0])
    )
    # val_fraction is of the whole set, so rescale it to what is left after the test split.
    val_of_rest = val_fraction / (1 - test_fraction)
    train, val = train_test_split(
        rest, test_size=val_of_rest, random_state=seed, stratify=labels[rest]
    )
    return np.sort(train), np.sort(val), np.sort(test)
