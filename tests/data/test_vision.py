"""Image sets read offline: IDX files as Debian and torchvision lay them out, splits, statistics."""

import numpy as np
import pytest
import torch

from tuneforge.data import FashionMNISTDataModule, MNISTDataModule
from tuneforge.data.idx import read_idx
from tuneforge.data.transforms import RandomShiftCrop
from tuneforge.data.vision import MissingDatasetError

from ..conftest import FASHION_MNIST_ROOT
from ._idx_files import write_idx


def write_mnist(folder, n_train: int = 40, n_test: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), False)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10, True)


def test_torchvision_layout_is_found(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    dm = MNISTDataModule(root=str(tmp_path), val_fraction=0.25)
    dm.setup()
    assert {name: len(split) for name, split in dm.splits.items()} == {
        "train": 30,
        "val": 10,
        "test": 20,
    }
    assert dm.spec == {
        "input_shape": (1, 28, 28),
        "num_classes": 10,
        "class_names": tuple(str(digit) for digit in range(10)),
    }


def test_missing_dataset_names_the_folder_and_both_fixes(tmp_path):
    with pytest.raises(MissingDatasetError) as error:
        FashionMNISTDataModule(root=str(tmp_path)).setup()
    message = str(error.value)
    assert str(tmp_path) in message and "data.root" in message and "data.download=true" in message
    assert "\n" not in message


@pytest.mark.system
def test_real_fashion_mnist_splits_and_training_statistics():
    dm = FashionMNISTDataModule(root=str(FASHION_MNIST_ROOT), val_fraction=0.1)
    dm.setup()
    assert {name: len(split) for name, split in dm.splits.items()} == {
        "train": 54_000,
        "val": 6_000,
        "test": 10_000,
    }
    assert dm.class_names[9] == "Ankle boot"
    train = torch.stack([dm.splits["train"][i][0] for i in range(0, 54_000, 27)])
    assert train.mean().item() == pytest.approx(0.0, abs=0.05)
    assert train.std().item() == pytest.approx(1.0, abs=0.05)
    state = dm.state_dict()
    assert all(isinstance(v, float) for v in state["mean"] + state["std"])


def test_random_shift_crop_keeps_the_size_and_moves_the_content():
    torch.manual_seed(0)
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 10:18, 10:18] = 255
    shifted = [RandomShiftCrop(4)(image) for _ in range(10)]
    assert all(s.shape == image.shape for s in shifted)
    assert any(not torch.equal(s, image) for s in shifted)
    assert all(s.sum() == image.sum() for s in shifted)  # the square never leaves the frame


def test_kept_classes_are_relabelled_in_every_split_and_named_in_their_order(tmp_path):
    write_mnist(tmp_path, n_train=100, n_test=20)
    dm = MNISTDataModule(root=str(tmp_path), classes=[7, "3"], val_fraction=0.2)
    assert dm.class_names == ("7", "3")  # known before setup, as predict's labels need
    dm.setup()
    assert dm.spec["num_classes"] == 2 and dm.spec["class_names"] == ("7", "3")
    counts = {name: split.labels.bincount().tolist() for name, split in dm.splits.items()}
    assert counts == {"train": [8, 8], "val": [2, 2], "test": [2, 2]}
    # Test images 3, 7, 13 and 17 carry labels 3 and 7: kept in file order, 7 is now 0.
    assert dm.splits["test"].labels.tolist() == [1, 0, 1, 0]
    images = torch.from_numpy(read_idx(tmp_path / "t10k-images-idx3-ubyte"))
    assert torch.equal(dm.splits["test"].inputs[:, 0], images[[3, 7, 13, 17]])


@pytest.mark.system
def test_real_fashion_mnist_subset_of_new_classes_for_fine_tuning():
    dm = FashionMNISTDataModule(
        root=str(FASHION_MNIST_ROOT), classes=[5, 6, 7, 8, 9], train_size=1000, split_seed=3
    )
    dm.setup()
    assert dm.class_names == ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    counts = {name: split.labels.bincount().tolist() for name, split in dm.splits.items()}
    # The sample is of the training split only: validation and test keep every image.
    assert counts == {"train": [200] * 5, "val": [600] * 5, "test": [1000] * 5}
    again = FashionMNISTDataModule(
        root=str(FASHION_MNIST_ROOT), classes=[5, 6, 7, 8, 9], train_size=1000, split_seed=3
    )
    again.setup()
    assert torch.equal(again.splits["train"].inputs, dm.splits["train"].inputs)
    by_name = FashionMNISTDataModule(root=str(FASHION_MNIST_ROOT), classes=["Bag", "Sandal"])
    assert by_name.kept == [8, 5] and by_name.class_names == ("Bag", "Sandal")


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"classes": [10]}, "classes=[10] is not allowed: 10 is not a class of this dataset"),
        ({"classes": ["Hat"]}, "names among: T-shirt/top, Trouser"),
        ({"classes": []}, "classes=[] is not allowed; it must be a non-empty list"),
        ({"train_size": 0}, "train_size=0 is not allowed; it must be an integer >= 1"),
    ],
)
def test_bad_class_choices_and_sizes_fail_before_reading_a_file(tmp_path, arguments, fragment):
    with pytest.raises(ValueError) as error:
        FashionMNISTDataModule(root=str(tmp_path), **arguments)  # no files there
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_train_size_beyond_the_training_split_names_the_most_there_is(tmp_path):
    write_mnist(tmp_path, n_train=100)
    dm = MNISTDataModule(root=str(tmp_path), classes=[0, 1], train_size=17, val_fraction=0.2)
    with pytest.raises(ValueError, match=r"train_size=17 is more than the 16 images of the train"):
        dm.setup()
