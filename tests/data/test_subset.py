"""Choosing classes and a labelled subset: names or indices, relabelling, a seeded sample."""

import numpy as np
import pytest

from tuneforge.data.subset import keep_classes, pick_classes, sample_per_class

NAMES = ("cat", "dog", "owl", "7")


def test_classes_are_picked_by_name_or_index_in_the_order_asked():
    assert pick_classes(None, NAMES) is None
    assert pick_classes(["owl", 0], NAMES) == [2, 0]
    assert pick_classes([7, 1], NAMES) == [3, 1]  # a name that reads as a number wins


@pytest.mark.parametrize(
    ("classes", "fragment"),
    [
        ([4], "4 is not a class of this dataset; set data.classes to indices 0 to 3"),
        (["hen"], "'hen' is not a class of this dataset"),
        ([-1], "-1 is not a class"),
        (["dog", 1], "it names 'dog' twice; list each class once"),
    ],
)
def test_a_class_the_data_lacks_is_one_line_naming_it_and_the_choices(classes, fragment):
    with pytest.raises(ValueError) as error:
        pick_classes(classes, NAMES)
    message = str(error.value)
    assert message.startswith(f"classes={classes!r} is not allowed") and fragment in message
    assert "cat, dog, owl, 7" in message or "twice" in message
    assert "\n" not in message


def test_kept_classes_are_relabelled_in_the_order_asked():
    labels = np.array([0, 3, 1, 3, 2, 0])
    positions, relabelled = keep_classes(labels, [3, 0])
    assert positions.tolist() == [0, 1, 3, 5]
    assert relabelled.tolist() == [1, 0, 0, 1]


def test_the_sample_keeps_the_class_balance_and_its_seed():
    labels = np.repeat(np.arange(5), 100)
    chosen = sample_per_class(labels, 50, seed=0)
    assert len(chosen) == 50 and np.bincount(labels[chosen]).tolist() == [10] * 5
    assert np.array_equal(chosen, sample_per_class(labels, 50, seed=0))
    assert not np.array_equal(chosen, sample_per_class(labels, 50, seed=1))
    assert np.array_equal(sample_per_class(labels, None, seed=0), np.arange(500))


def test_every_class_gets_an_image_and_the_rest_follows_the_counts():
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    chosen = sample_per_class(labels, 12, seed=3)
    assert np.bincount(labels[chosen]).tolist() == [9, 2, 1]
    assert len(set(chosen.tolist())) == 12


@pytest.mark.parametrize(
    ("size", "fragment"),
    [
        (
            101,
            "train_size=101 is more than the 100 images of the training split; set "
            "data.train_size to at most 100",
        ),
        (2, "train_size=2 is fewer than the 3 classes; set data.train_size to at least 3"),
    ],
)
def test_impossible_sizes_say_the_range(size, fragment):
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    with pytest.raises(ValueError, match=fragment):
        sample_per_class(labels, size, seed=0)
