"""torchvision's classic image sets as DataModules: MNIST, Fashion-MNIST and CIFAR-10.

Offline, `root` is read as it is: the four IDX files of (Fashion-)MNIST, gzipped or not, flat in
`root` (as Debian's dataset-fashion-mnist package lays them out) or in torchvision's
`root/<Name>/raw/`; CIFAR-10's `cifar-10-batches-py/`. With `download=True` torchvision fetches
what is missing into `root` first.
"""

import torch

from tuneforge.data._images import InMemoryImageDataModule, as_image_tensor
from tuneforge.data.idx import SPLIT_FILES, find_idx, read_idx


class MissingDatasetError(FileNotFoundError):
    """The dataset's files are not where the config says; the message says the two fixes."""


class MNISTDataModule(InMemoryImageDataModule):
    """MNIST: 70,000 28x28 grey handwritten digits (60,000 train, 10,000 test)."""

    torchvision_name = "MNIST"
    class_names = tuple(str(digit) for digit in range(10))

    def _fetch(self) -> None:
        import torchvision

        getattr(torchvision.datasets, self.torchvision_name)(str(self.root), download=True)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        subfolders = ("raw", f"{self.torchvision_name}/raw")
        paths = {
            stem: find_idx(self.root, stem, subfolders)
            for files in SPLIT_FILES.values()
            for stem in files
        }
        if None in paths.values() and self.download:
            self._fetch()
            paths = {stem: find_idx(self.root, stem, subfolders) for stem in paths}
        missing = [stem for stem, path in paths.items() if path is None]
        if missing:
            raise MissingDatasetError(
                f"{self.torchvision_name} not found: no {missing[0]}[.gz] in '{self.root}' or "
                f"its {' or '.join(subfolders)}; set data.root to the folder that holds the IDX "
                "files, or data.download=true to fetch them"
            )
        arrays = [read_idx(paths[stem]) for files in SPLIT_FILES.values() for stem in files]
        train_x, train_y, test_x, test_y = arrays
        return (
            as_image_tensor(train_x),
            torch.from_numpy(train_y.astype("int64")),
            as_image_tensor(test_x),
            torch.from_numpy(test_y.astype("int64")),
        )


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST: 70,000 28x28 grey images of clothing in 10 classes, MNIST's layout."""

    torchvision_name = "FashionMNIST"
    class_names = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )


class CIFAR10DataModule(InMemoryImageDataModule):
    """CIFAR-10: 60,000 32x32 colour images in 10 classes (50,000 train, 10,000 test)."""

    class_names = (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        from torchvision.datasets import CIFAR10

        try:
            train = CIFAR10(str(self.root), train=True, download=self.download)
            test = CIFAR10(str(self.root), train=False, download=self.download)
        except RuntimeError as ex:  # torchvision: "Dataset not found or corrupted."
            raise MissingDatasetError(
                f"CIFAR-10 not found or damaged: no cifar-10-batches-py in '{self.root}'; set "
                "data.root to the folder that holds it, or data.download=true to fetch it"
            ) from ex
        return (
            as_image_tensor(train.data),
            torch.tensor(train.targets),
            as_image_tensor(test.data),
            torch.tensor(test.targets),
        )
