"""The digits DataModule: seeded stratified splits, scaling by the training split, input files,
and the loader workers every DataModule starts."""

import os

import numpy as np
import pytest
import torch

from tuneforge.data import DigitsDataModule


def setup_digits(**kwargs) -> DigitsDataModule:
    datamodule = DigitsDataModule(**kwargs)
    datamodule.setup("fit")
    return datamodule


def test_splits_partition_the_set_in_the_asked_fractions():
    dm = setup_digits(val_fraction=0.1, test_fraction=0.2)
    sizes = {name: len(split) for name, split in dm.splits.items()}
    assert sum(sizes.values()) == 1797
    assert sizes["test"] == pytest.approx(0.2 * 1797, abs=1)
    assert sizes["val"] == pytest.approx(0.1 * 1797, abs=1)
    assert dm.spec == {"input_shape": (1, 8, 8), "num_classes": 10}


def test_split_depends_on_split_seed_only():
    a, b = setup_digits(split_seed=1), setup_digits(split_seed=1)
    c = setup_digits(split_seed=2)
    assert torch.equal(a.labels("test"), b.labels("test"))
    assert not torch.equal(a.splits["test"].inputs, c.splits["test"].inputs)


@pytest.mark.parametrize("workers", ["auto", 0, 1])
def test_num_workers_auto_is_one_loader_worker_per_usable_core_at_most_eight(workers):
    expected = min(len(os.sched_getaffinity(0)), 8) if workers == "auto" else workers
    assert setup_digits(num_workers=workers).train_dataloader().num_workers == expected


def test_training_split_is_standardised():
    dm = setup_digits()
    train = dm.splits["train"].inputs
    assert train.shape[1:] == (1, 8, 8)
    assert train.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert train.std().item() == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.2), (1.0, 0.0), (0.5, 0.5), (0.1, -0.1)])
def test_fractions_that_leave_nothing_to_train_are_refused(val, test):
    with pytest.raises(ValueError, match="some data is left to train on"):
        DigitsDataModule(val_fraction=val, test_fraction=test)


def test_train_transforms_apply_to_training_images_only():
    def flip(x: torch.Tensor) -> torch.Tensor:
        return -x

    plain, flipped = setup_digits(), setup_digits(train_transforms=[flip])
    assert torch.equal(flipped.splits["train"][0][0], -plain.splits["train"][0][0])
    assert torch.equal(flipped.splits["test"][0][0], plain.splits["test"][0][0])


def test_read_inputs_from_npy_and_csv_match(tmp_path):
    from sklearn.datasets import load_digits

    dm = setup_digits()
    images = load_digits().images[:5]
    np.save(tmp_path / "x.npy", images)
    np.savetxt(tmp_path / "x.csv", images.reshape(5, 64), delimiter=",", fmt="%d")
    header = ",".join(f"pixel_{i}" for i in range(64))
    np.savetxt(tmp_path / "h.csv", images.reshape(5, 64), delimiter=",", fmt="%d", header=header)
    batches = [next(iter(dm.read_inputs(tmp_path / f)))[0] for f in ("x.npy", "x.csv", "h.csv")]
    assert batches[0].shape == (5, 1, 8, 8)
    assert torch.allclose(batches[0], batches[1]) and torch.allclose(batches[0], batches[2])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "does not exist"),
        ("x.txt", "1,2,3", "must be a .csv or .npy"),
        ("short.csv", "1,2,3\n4,5,6\n", r"shape \(2, 3\)"),
    ],
)
def test_read_inputs_refuses_bad_files(tmp_path, name, content, message):
    dm = setup_digits()
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        dm.read_inputs(tmp_path / name)
