"""The seeded stratified split that every small labelled set uses, and its fraction checks."""

import numpy as np
import pytest
import torch

from tuneforge.data.tensors import TensorClassificationDataset, stratified_split


def test_split_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(10), 50)
    train, val, test = stratified_split(labels, 0.2, 0.2, seed=3)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert len(train) + len(val) + len(test) == len(labels)
    for split in (val, test):
        assert np.bincount(labels[split]).tolist() == [10] * 10


def test_the_split_repeats_with_its_seed_only():
    labels = np.repeat(np.arange(4), 25)
    first, again = stratified_split(labels, 0.2, 0.2, seed=1), stratified_split(labels, 0.2, 0.2, 1)
    other = stratified_split(labels, 0.2, 0.2, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[1], other[1])


def test_no_test_fraction_leaves_the_test_split_empty():
    labels = np.repeat(np.arange(2), 10)
    train, val, test = stratified_split(labels, 0.5, 0.0, seed=0)
    assert len(test) == 0 and len(train) == len(val) == 10


@pytest.mark.parametrize(("val", "test"), [(0.0, 0.2), (0.6, 0.4)])
def test_fractions_that_leave_nothing_to_train_are_refused(val, test):
    with pytest.raises(ValueError, match="some data is left to train on"):
        stratified_split(np.repeat(np.arange(2), 10), val, test, seed=0)


def test_the_dataset_applies_its_transforms_to_inputs_only():
    dataset = TensorClassificationDataset(torch.ones(3, 2), torch.arange(3), [lambda x: 2 * x])
    x, y = dataset[1]
    assert len(dataset) == 3 and torch.equal(x, torch.full((2,), 2.0)) and y == 1
