"""Fewer labels: some classes of a labelled set, and a seeded sample of its training split.

What fine-tuning on a small labelled set needs (pretrain on some classes, fine-tune on 1,000
images of the others) and what its from-scratch baseline needs too. Class choice comes first and
re-indexes the labels 0..k-1 in the order asked; the training sample is drawn last, from the
training split only, so validation and test stay whole for the kept classes.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from tuneforge.data._args import is_int

NAMES_SHOWN = 10  # class names quoted in an error line


def _class_list(value: Any) -> bool:
    items = isinstance(value, list | tuple) and len(value) > 0
    return value is None or (items and all(is_int(v) or isinstance(v, str) for v in value))


# The rules every DataModule with these options follows (see `_args.check_arguments`).
CLASSES_RULE = (_class_list, "a non-empty list of class indices or names, or null for all")
TRAIN_SIZE_RULE = (
    lambda v: v is None or (is_int(v) and v >= 1),
    "an integer >= 1, or null for every training image",
)


def pick_classes(classes: Sequence[int | str] | None, names: Sequence[str]) -> list[int] | None:
    """Indices into `names` of the `classes` asked for, in their order; None keeps them all.

    An item is a class name, or else an index: MNIST's class "5" is index 5 either way.

    Raises:
        ValueError: for an item that is no class here, or a class asked for twice.
    """
    if classes is None:
        return None
    names = list(names)
    picked: list[int] = []
    for item in classes:
        if str(item) in names:
            index = names.index(str(item))
        elif is_int(item) and 0 <= item < len(names):
            index = item
        else:
            shown = ", ".join(names[:NAMES_SHOWN]) + (", ..." if len(names) > NAMES_SHOWN else "")
            raise ValueError(
                f"classes={list(classes)!r} is not allowed: {item!r} is not a class of this "
                f"dataset; set data.classes to indices 0 to {len(names) - 1} or names among: "
                f"{shown}"
            )
        if index in picked:
            raise ValueError(
                f"classes={list(classes)!r} is not allowed: it names {names[index]!r} twice; "
                "list each class once in data.classes"
            )
        picked.append(index)
    return picked


def keep_classes(labels: np.ndarray, kept: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the samples of the `kept` classes, and their labels re-indexed so that
    `kept[i]` becomes i."""
    new_label = np.full(max(int(labels.max(initial=0)), *kept) + 1, -1, dtype=np.int64)
    new_label[list(kept)] = np.arange(len(kept))
    relabelled = new_label[labels]
    positions = np.flatnonzero(relabelled >= 0)
    return positions, relabelled[positions]


def sample_per_class(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Sorted positions of `size` samples drawn with `seed`, at least one of each class and the
    rest shared in proportion to the class counts; every position when `size` is None.

    Raises:
        ValueError: when `size` is more than there are samples, or fewer than the classes.
    """
    if size is None or size == len(labels):
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    if size > len(labels):
        raise ValueError(
            f"train_size={size} is more than the {len(labels):,} images of the training split; "
            f"set data.train_size to at most {len(labels)}, or null for all"
        )
    if size < len(classes):
        raise ValueError(
            f"train_size={size} is fewer than the {len(classes)} classes; set data.train_size to "
            f"at least {len(classes)}, so that every class has an image"
        )
    # One image per class, then the rest in proportion to what each class has left; the
    # largest remainders round up so the counts add up to `size`.
    exact = (counts - 1) * (size - len(classes)) / (len(labels) - len(classes))
    take = np.floor(exact).astype(np.int64)
    take[np.argsort(take - exact, kind="stable")[: size - len(classes) - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=n + 1, replace=False)
        for c, n in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))
