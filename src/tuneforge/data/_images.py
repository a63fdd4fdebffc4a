"""In-memory image classification sets: a seeded validation split of the official training set,
per-channel statistics from the training split only, per-sample augmentation, and a choice of
classes and of how many labelled training images to use."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from tuneforge.data._args import Workers, check_arguments
from tuneforge.data._base import SplitsDataModule
from tuneforge.data.subset import (
    CLASSES_RULE,
    TRAIN_SIZE_RULE,
    keep_classes,
    pick_classes,
    sample_per_class,
)
from tuneforge.data.tensors import TensorClassificationDataset, check_fractions, stratified_split


class Standardize:
    """uint8 image (C, H, W) -> float32 scaled to [0, 1], minus the mean, over the std, per channel.

    A plain tensor expression: per sample it costs a fraction of torchvision's Normalize.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return (image.float() / 255 - self.mean) / self.std


class InMemoryImageDataModule(SplitsDataModule):
    """Base for image sets small enough to hold as one uint8 tensor (MNIST, CIFAR-10).

    Subclasses name their classes and implement `load()`. The official test set is the test
    split; `val_fraction` of the training set, stratified by class, is the validation split.
    `classes` keeps some classes in every split; `train_size` then trains on a sample of the
    training split (a small labelled set), leaving validation and test whole.

    Args:
        root: folder that holds the dataset files.
        download: fetch the files into `root` when they are missing (needs a network).
        batch_size: samples per batch, for every split.
        val_fraction: share of the training set held out for validation.
        split_seed: seed of the validation split and of the `train_size` sample, apart from the
            training seed.
        num_workers: data loader worker processes (0: load in the main process; auto: one per
            core, at most 8).
        mean, std: per-channel statistics of [0, 1] pixels; computed from the training split
            (after `classes` and `train_size`) when not given.
        train_transforms: callables applied to each uint8 training image (augmentation).
        classes: the classes to keep, by index or name, relabelled 0..k-1 in this order (None:
            all of them).
        train_size: training images to keep, drawn per class in proportion with `split_seed`
            (None: the whole training split).
    """

    class_names: tuple[str, ...] = ()

    def __init__(
        self,
        root: str = "data",
        download: bool = False,
        batch_size: int = 128,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        num_workers: Workers = 0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
        classes: Sequence[int | str] | None = None,
        train_size: int | None = None,
    ) -> None:
        super().__init__()
        check_fractions(val_fraction, 0.0)
        check_arguments(
            {"classes": CLASSES_RULE, "train_size": TRAIN_SIZE_RULE},
            {"classes": classes, "train_size": train_size},
        )
        # Known before any file is read: a class this dataset lacks fails at once.
        self.kept = pick_classes(classes, self.class_names)
        if self.kept is not None:
            self.class_names = tuple(self.class_names[i] for i in self.kept)
        self.train_size = train_size
        self.root = Path(root)
        self.download = download
        self.batch_size = batch_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.mean = list(mean) if mean is not None else None
        self.std = list(std) if std is not None else None
        self.train_transforms = list(train_transforms)
        self.image_shape: tuple[int, int, int] | None = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Train images (N, C, H, W) uint8, train labels (N,) int64, then the same for test."""
        raise NotImplementedError

    @property
    def spec(self) -> dict:
        """What the model needs (input shape, class count), and what its outputs mean: the class
        names, which the checkpoint keeps, in the order of the labels."""
        names = self.class_names
        return {"input_shape": self.image_shape, "num_classes": len(names), "class_names": names}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        train_x, train_y, test_x, test_y = self.load()
        if self.kept is not None:
            train_x, train_y = self._keep(train_x, train_y)
            test_x, test_y = self._keep(test_x, test_y)
        self.image_shape = tuple(train_x.shape[1:])
        train, val, _ = stratified_split(train_y.numpy(), self.val_fraction, 0.0, self.split_seed)
        train = train[sample_per_class(train_y.numpy()[train], self.train_size, self.split_seed)]
        if self.mean is None or self.std is None:
            pixels = train_x[torch.from_numpy(train)].float() / 255  # (N, C, H, W)
            self.mean = pixels.mean(dim=(0, 2, 3)).tolist()
            self.std = pixels.std(dim=(0, 2, 3)).tolist()
        standardize = Standardize(self.mean, self.std)
        for name, images, labels, augment in (
            ("train", train_x[train], train_y[train], self.train_transforms),
            ("val", train_x[val], train_y[val], []),
            ("test", test_x, test_y, []),
        ):
            self.splits[name] = TensorClassificationDataset(images, labels, [*augment, standardize])

    def _keep(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The images of the kept classes, and their labels re-indexed in `classes`' order."""
        positions, relabelled = keep_classes(labels.numpy(), self.kept)
        return images[torch.from_numpy(positions)], torch.from_numpy(relabelled)

    def state_dict(self) -> dict:
        """The training split's statistics, stored in checkpoints for eval and predict."""
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state_dict: dict) -> None:
        self.mean, self.std = state_dict["mean"], state_dict["std"]


def as_image_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W) or (N, H, W, C) uint8 -> (N, C, H, W) uint8 tensor."""
    tensor = torch.from_numpy(np.ascontiguousarray(images))
    return tensor.unsqueeze(1) if tensor.ndim == 3 else tensor.permute(0, 3, 1, 2).contiguous()
