"""The figures of plots/ and TensorBoard: what they draw, and inputs they refuse."""

import io

import numpy as np
import pytest

from tuneforge.figures import confusion_matrix_figure, labelled_images_figure


def _texts(axes) -> list[str]:
    return [text.get_text() for text in axes.texts]


def test_confusion_matrix_writes_counts_and_colours_each_row_by_its_share():
    counts = [[6, 2], [0, 0]]  # the second class never occurs: its row stays blank, not NaN
    figure = confusion_matrix_figure(counts, ["cat", "dog"])
    axes = figure.axes[0]
    assert _texts(axes) == ["6", "2", "0", "0"]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["cat", "dog"]
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted", "true")
    np.testing.assert_allclose(axes.images[0].get_array(), [[0.75, 0.25], [0.0, 0.0]])
    png = io.BytesIO()
    figure.savefig(png, format="png")  # no display needed
    assert png.getvalue().startswith(b"\x89PNG")


def test_a_large_confusion_matrix_leaves_the_counts_out():
    names = [f"class {i}" for i in range(30)]
    figure = confusion_matrix_figure(np.eye(30, dtype=int), names)
    assert _texts(figure.axes[0]) == []


def test_a_confusion_matrix_must_match_its_class_names():
    with pytest.raises(ValueError, match="3 class names must be 3x3, got shape \\(2, 2\\)"):
        confusion_matrix_figure([[1, 0], [0, 1]], ["a", "b", "c"])


def test_labelled_images_get_their_titles_in_a_grid():
    images = np.random.default_rng(0).random((10, 1, 8, 8))
    figure = labelled_images_figure(images, [f"image {i}" for i in range(10)], columns=4)
    assert len(figure.axes) == 12  # 3 rows of 4, the last two empty
    assert [axes.get_title() for axes in figure.axes[:10]] == [f"image {i}" for i in range(10)]
    assert [len(axes.images) for axes in figure.axes[10:]] == [0, 0]
