"""Image sets read offline: IDX files as Debian and torchvision lay them out, splits, statistics."""

import gzip

import numpy as np
import pytest
import torch

from tuneforge.data import FashionMNISTDataModule, MNISTDataModule
from tuneforge.data._idx import read_idx
from tuneforge.data.transforms import RandomShiftCrop
from tuneforge.data.vision import MissingDatasetError

from ..conftest import FASHION_MNIST_ROOT


def write_idx(path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


def write_mnist(folder, n_train: int = 40, n_test: int = 20) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), False)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10, True)


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
    write_idx(tmp_path / "x.idx", array, compress)
    path = tmp_path / "x.idx"
    if compress:
        path = path.rename(tmp_path / "x.idx.gz")
    assert np.array_equal(read_idx(path), array)


def test_read_idx_refuses_damaged_files(tmp_path):
    write_idx(tmp_path / "cut", np.zeros((4, 28, 28)), False)
    (tmp_path / "cut").write_bytes((tmp_path / "cut").read_bytes()[:-10])
    with pytest.raises(ValueError, match="cut short"):
        read_idx(tmp_path / "cut")
    (tmp_path / "text").write_text("hello, world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_torchvision_layout_is_found(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    dm = MNISTDataModule(root=str(tmp_path), val_fraction=0.25)
    dm.setup()
    assert {name: len(split) for name, split in dm.splits.items()} == {
        "train": 30,
        "val": 10,
        "test": 20,
    }
    assert dm.spec == {"input_shape": (1, 28, 28), "num_classes": 10}


def test_missing_dataset_names_the_folder_and_both_fixes(tmp_path):
    with pytest.raises(MissingDatasetError) as error:
        FashionMNISTDataModule(root=str(tmp_path)).setup()
    message = str(error.value)
    assert str(tmp_path) in message and "data.root" in message and "data.download=true" in message
    assert "\n" not in message


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
