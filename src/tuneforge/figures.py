"""Figures drawn from a run's numbers, for the run folder's plots/ (reporting) and for
TensorBoard (callbacks): one home below both, so the same confusion matrix shows in either.
Import it only where there is something to draw: matplotlib takes a while to import.

Figures are built on `matplotlib.figure.Figure` rather than pyplot, so they need no display and
no global figure state: callers save them (`figure.savefig`) or hand them to TensorBoard
(`SummaryWriter.add_figure`).
"""

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

# Counts are written in the cells up to this many classes; beyond it they no longer fit.
_MAX_CLASSES_ANNOTATED = 20


def confusion_matrix_figure(matrix, class_names: Sequence[str]) -> Figure:
    """Draw a confusion matrix: rows are true classes, columns predicted ones.

    Colours show each row normalized by its total (the fraction of a true class that went to
    each prediction), so a rare class reads as clearly as a common one; the raw counts are
    written in the cells when the matrix is small enough for them to fit.

    Args:
        matrix: 2-D array-like of counts, shape (classes, classes).
        class_names: one name per class, in the matrix's order.

    Raises:
        ValueError: the matrix is not square or does not match the number of class names.
    """
    counts = np.asarray(matrix)
    num_classes = len(class_names)
    if counts.shape != (num_classes, num_classes):
        raise ValueError(
            f"a confusion matrix for {num_classes} class names must be "
            f"{num_classes}x{num_classes}, got shape {counts.shape}"
        )
    row_totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(
        counts, row_totals, out=np.zeros(counts.shape, dtype=float), where=row_totals > 0
    )

    side = min(4.0 + 0.45 * num_classes, 24.0)  # inches: room for the labels, capped
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, label="fraction of the true class", shrink=0.8)

    ticks = np.arange(num_classes)
    label_size = 10 if num_classes <= _MAX_CLASSES_ANNOTATED else 6
    axes.set_xticks(ticks, [str(name) for name in class_names], rotation=45, ha="right")
    axes.set_yticks(ticks, [str(name) for name in class_names])
    axes.tick_params(labelsize=label_size)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"confusion matrix ({int(counts.sum())} samples)")

    if num_classes <= _MAX_CLASSES_ANNOTATED:
        for true_index, predicted_index in np.ndindex(counts.shape):
            dark_cell = fractions[true_index, predicted_index] > 0.5
            axes.text(
                predicted_index,
                true_index,
                f"{counts[true_index, predicted_index]:g}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark_cell else "black",
            )
    return figure


def labelled_images_figure(images, titles: Sequence[str], columns: int = 8) -> Figure:
    """Draw images in a grid, each under its own title (e.g. its true and predicted class).

    Args:
        images: array-like (N, C, H, W) with values in [0, 1] and 1 or 3 channels.
        titles: one short title per image.
        columns: images per row at most.

    Raises:
        ValueError: the number of titles differs from the number of images.
    """
    pictures = np.asarray(images, dtype=float)
    if len(titles) != len(pictures):
        raise ValueError(f"{len(pictures)} images need as many titles, got {len(titles)}")
    columns = max(1, min(columns, len(pictures)))
    rows = max(1, -(-len(pictures) // columns))  # ceiling division
    figure = Figure(figsize=(1.6 * columns, 1.9 * rows), layout="constrained")
    for index, axes in enumerate(figure.subplots(rows, columns, squeeze=False).flat):
        axes.set_axis_off()
        if index >= len(pictures):
            continue
        picture = pictures[index].transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
        if picture.shape[2] == 1:
            axes.imshow(picture[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            axes.imshow(picture.clip(0.0, 1.0))
        axes.set_title(titles[index], fontsize=8)
    return figure
