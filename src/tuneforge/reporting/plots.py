"""The figures of a run folder's plots/: loss and metric curves, the learning rate, the confusion
matrix, drawn from what the run logged.

Figures are `matplotlib.figure.Figure`s, not pyplot's, so drawing needs no display and no global
state; the caller saves them. Import this module only where there is something to draw:
matplotlib takes a while to import.
"""

import csv
from collections.abc import Callable
from functools import partial
from pathlib import Path

from matplotlib.figure import Figure

from tuneforge.figures import confusion_matrix_figure
from tuneforge.reporting.events import Curve
from tuneforge.reporting.layout import CONFUSION_MATRIX_CSV

# The splits whose curves are drawn; test/ metrics are one number each, shown in the report.
_SPLITS = ("train", "val")


def run_figures(curves: dict[str, Curve], run_dir: Path) -> dict[str, Callable[[], Figure]]:
    """What to draw for a run, by file stem, each a function that draws its figure: `loss`,
    `metrics` (a panel per metric other than the loss), `lr` and `confusion_matrix`, where the
    run logged what it shows. Drawn one by one, a figure that fails leaves the others drawn."""
    by_metric: dict[str, dict[str, Curve]] = {}
    for tag, curve in curves.items():
        split, _, metric = tag.partition("/")
        if split in _SPLITS and metric:
            by_metric.setdefault(metric, {})[split] = curve
    figures: dict[str, Callable[[], Figure]] = {}
    if "loss" in by_metric:
        figures["loss"] = partial(_curves_figure, {"loss": by_metric.pop("loss")})
    if by_metric:
        figures["metrics"] = partial(_curves_figure, by_metric)
    rates = {tag[len("lr-") :]: curve for tag, curve in curves.items() if tag.startswith("lr-")}
    if rates:
        figures["lr"] = partial(_learning_rate_figure, rates)
    if (run_dir / CONFUSION_MATRIX_CSV).is_file():
        figures["confusion_matrix"] = partial(_confusion_matrix, run_dir / CONFUSION_MATRIX_CSV)
    return figures


def _confusion_matrix(path: Path) -> Figure:
    return confusion_matrix_figure(*read_confusion_matrix(path))


def _curves_figure(by_metric: dict[str, dict[str, Curve]]) -> Figure:
    """One panel per metric, with its train and val curves over the training steps."""
    columns = min(len(by_metric), 3)
    rows = -(-len(by_metric) // columns)  # ceil
    figure = Figure(figsize=(4.5 * columns, 3.2 * rows))
    # Fixed margins: a layout engine (constrained, tight) doubles the time to draw.
    figure.subplots_adjust(left=0.6 / (4.5 * columns), right=0.98, wspace=0.25, hspace=0.5)
    figure.subplots_adjust(bottom=0.5 / (3.2 * rows), top=1 - 0.35 / (3.2 * rows))
    panels = list(figure.subplots(rows, columns, squeeze=False).flat)
    for axes, (metric, splits) in zip(panels, sorted(by_metric.items()), strict=False):
        for split in _SPLITS:
            if split in splits:
                curve = splits[split]
                marker = "o" if len(curve.steps) < 30 else None  # sparse: show each point
                axes.plot(curve.steps, curve.values, marker=marker, markersize=3, label=split)
        axes.set_title(metric)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend()
    for axes in panels[len(by_metric) :]:  # the grid's cells left over
        axes.set_visible(False)
    return figure


def _learning_rate_figure(rates: dict[str, Curve]) -> Figure:
    """The learning rate of each optimizer's param group over the training steps."""
    figure = Figure(figsize=(6, 3.2))
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.16, top=0.9)
    axes = figure.add_subplot()
    for name, curve in sorted(rates.items()):
        axes.plot(curve.steps, curve.values, label=name)
    axes.set_title("learning rate")
    axes.set_xlabel("step")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def read_confusion_matrix(path: Path) -> tuple[list[list[int]], list[str]]:
    """The counts and class names of a confusion_matrix.csv: a header `true,PREDICTED...`, then
    one row per true class, its name first.

    Raises:
        ValueError: the file is not in that shape.
    """
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    names = header[1:]
    if header[:1] != ["true"] or [row[0] for row in rows] != names:
        raise ValueError(
            f"{path.name} must have a header `true,CLASS...` and one row per class in that order"
        )
    return [[int(count) for count in row[1:]] for row in rows], names
