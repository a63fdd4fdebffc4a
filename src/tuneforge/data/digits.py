"""scikit-learn's handwritten digits as a LightningDataModule: 1,797 8x8 grey images, 10 classes.

The set ships inside scikit-learn, so it needs no download. Pixels (0 to 16) are scaled by the
training split's mean and standard deviation.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from tuneforge.data._args import Workers
from tuneforge.data._base import SplitsDataModule
from tuneforge.data._files import require_file
from tuneforge.data.tensors import (
    TensorClassificationDataset,
    check_fractions,
    stratified_split,
)

IMAGE_SHAPE = (1, 8, 8)
MAX_PIXEL = 16.0


class DigitsDataModule(SplitsDataModule):
    """Seeded, stratified train/val/test splits of the digits set.

    Args:
        batch_size: samples per batch, for every split.
        val_fraction: share of the whole set held out for validation.
        test_fraction: share of the whole set held out for the test.
        split_seed: seed of the split, apart from the training seed.
        num_workers: data loader worker processes (0: load in the main process; auto: one per
            core, at most 8).
        train_transforms: callables applied to each training image (augmentation).
    """

    class_names = tuple(str(digit) for digit in range(10))

    def __init__(
        self,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        num_workers: Workers = 0,
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        super().__init__()
        check_fractions(val_fraction, test_fraction)
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.train_transforms = list(train_transforms)
        self.mean = 0.0
        self.std = 1.0

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data."""
        return {"input_shape": IMAGE_SHAPE, "num_classes": len(self.class_names)}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = digits.images.astype(np.float32) / MAX_PIXEL
        labels = digits.target.astype(np.int64)
        train, val, test = stratified_split(
            labels, self.val_fraction, self.test_fraction, self.split_seed
        )
        self.mean = float(images[train].mean())
        self.std = float(images[train].std())
        for name, indices in (("train", train), ("val", val), ("test", test)):
            self.splits[name] = TensorClassificationDataset(
                self._normalize(images[indices]),
                torch.from_numpy(labels[indices]),
                self.train_transforms if name == "train" else (),
            )

    def _normalize(self, images: np.ndarray) -> torch.Tensor:
        """(N, 8, 8) pixels in [0, 1] -> (N, 1, 8, 8) standardised by the training split."""
        tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        return ((tensor - self.mean) / self.std).unsqueeze(1)

    def read_inputs(self, path: str | Path) -> DataLoader:
        """A loader over new images in a file, scaled like the training data.

        Reads a `.npy` array of shape (N, 8, 8) or (N, 64), or a `.csv` of 64 pixel columns (with
        or without a header row), pixel values 0 to 16 as in the digits set.

        Raises:
            FileNotFoundError: when the file does not exist.
            ValueError: when it is a folder or cannot be read as digit images.
        """
        path = Path(path)
        require_file(path, "predict.input", "a .csv or .npy file of digit images")
        if path.suffix == ".npy":
            array = np.load(path, allow_pickle=False)
        elif path.suffix == ".csv":
            array = _read_numeric_csv(path)
        else:
            raise ValueError(f"predict.input '{path}' must be a .csv or .npy file of digit images")
        if array.ndim not in (2, 3) or array[0].size != 64 or array.dtype.kind not in "iuf":
            raise ValueError(
                f"predict.input '{path}' holds an array of shape {array.shape}; digits need "
                "(N, 64) or (N, 8, 8) numbers from 0 to 16"
            )
        images = array.reshape(-1, 8, 8).astype(np.float32) / MAX_PIXEL
        dataset = torch.utils.data.TensorDataset(self._normalize(images))
        return self.loader(dataset)


def _read_numeric_csv(path: Path) -> np.ndarray:
    """The numbers in a CSV file, whose first row may be a header."""
    import pandas as pd

    frame = pd.read_csv(path, header=None)
    if not all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        frame = pd.read_csv(path)  # the first row was a header
    return frame.to_numpy()
