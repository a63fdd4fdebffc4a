"""The figures of every sweep, and the style they share with an Optuna sweep's own
(`study_figures`): every trial's learning curve with the best one's drawn over the others, and a
grid's metric over its swept keys.

Each figure names the metric and whether higher or lower is better. Figures are
`matplotlib.figure.Figure`s (no display, no global state), drawn with a constrained layout so that
long parameter names and tick labels do not overlap; the caller saves them. Import this module
only where there is something to draw: matplotlib takes a while to import.
"""

import math
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tuneforge.reporting.sweep_folder import Sweep
from tuneforge.reporting.sweep_grid import Heatmap, best_by, label, values

# Without a study to say how a parameter was sampled, numbers that span this factor or more are
# drawn on a log axis (learning rates).
_LOG_SPAN = 10
_COLORMAP = "viridis"
BEST = "tab:red"  # the best trial, wherever it is drawn


def ranked_colours(sweep: Sweep) -> Any:
    """The colormap of the metric, its bright end the better one."""
    return colormaps[_COLORMAP if sweep.mode == "max" else f"{_COLORMAP}_r"]


def better(sweep: Sweep) -> str:
    """The metric with the way it is better, for an axis or a colorbar: `val/acc (higher is
    better)`."""
    return f"{sweep.metric} ({'higher' if sweep.mode == 'max' else 'lower'} is better)"


def learning_curves_figure(sweep: Sweep) -> Figure:
    """The monitored metric over the training steps of every trial that logged it: the others
    faint and grey, the best trial in red over them."""
    figure, axes = new_figure(9, 4.5)
    drawn = [t for t in sweep.trials if t.curve is not None and t.curve.steps]
    others = [t for t in drawn if t is not sweep.best]
    for trial in others:
        axes.plot(
            trial.curve.steps,
            trial.curve.values,
            color="0.55",
            alpha=0.45,
            lw=1,
            marker=_marker(trial.curve.steps),
            markersize=2.5,
        )
    if others:
        axes.plot([], [], color="0.55", alpha=0.6, label=f"other trials ({len(others)})")
    best = sweep.best
    if best in drawn:
        axes.plot(
            best.curve.steps,
            best.curve.values,
            color=BEST,
            lw=2.5,
            marker=_marker(best.curve.steps),
            markersize=4,
            label=f"best: trial {best.number} ({best.value:.4g})",
        )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("step")
    axes.set_ylabel(better(sweep))
    axes.set_title(f"Learning curves: {sweep.metric} of each trial")
    axes.grid(alpha=0.3)
    legend_beside(axes)
    return figure


def heatmap_figure(sweep: Sweep, heatmap: Heatmap) -> Figure:
    """The metric in a cell per combination of two keys, its value written in the cell; a grey
    cell had no completed trial."""
    cells = np.array(
        [[math.nan if v is None else v for v in row] for row in heatmap.cells], dtype=float
    )
    rows, columns = cells.shape
    figure, axes = new_figure(max(5.5, 1.2 * columns + 3), max(3.5, 0.6 * rows + 2))
    colours = ranked_colours(sweep).with_extremes(bad="0.85")
    image = axes.imshow(np.ma.masked_invalid(cells), cmap=colours, aspect="auto")
    figure.colorbar(image, ax=axes, label=better(sweep), shrink=0.9)
    finite = cells[np.isfinite(cells)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for row, column in np.ndindex(cells.shape):
        value = cells[row, column]
        dark = math.isfinite(value) and ((value < middle) == (sweep.mode == "max"))
        axes.text(
            column,
            row,
            "—" if math.isnan(value) else f"{value:.4g}",
            ha="center",
            va="center",
            fontsize=9,
            color="white" if dark else "black",
        )
    axes.set_xticks(range(columns), [label(v) for v in heatmap.columns])
    axes.set_yticks(range(rows), [label(v) for v in heatmap.rows])
    axes.set_xlabel(heatmap.column_key)
    axes.set_ylabel(heatmap.row_key)
    title = f"{sweep.metric} by {heatmap.row_key} and {heatmap.column_key}"
    if heatmap.others:
        title += f"\n(each cell: the best over {', '.join(heatmap.others)})"
    axes.set_title(title)
    return figure


def metric_by_key_figure(sweep: Sweep, key: str) -> Figure:
    """The metric at each value of the one swept key: a line over numbers (on a log axis for
    values spanning a factor of 10 or more), bars over names."""
    best = best_by(sweep, [key])
    taken = [value for value in values(sweep, key) if (value,) in best]
    metric = [best[(value,)] for value in taken]
    figure, axes = new_figure(7, 4.2)
    if all(isinstance(v, (int, float)) for v in taken):
        axes.plot(taken, metric, "o-", color="tab:blue")
        if log_axis(sweep, key):
            axes.set_xscale("log")
        axes.set_xticks(taken, [label(v) for v in taken])
        axes.minorticks_off()
        points = taken
    else:
        points = list(range(len(taken)))
        axes.bar(points, metric, color="tab:blue")
        axes.set_xticks(points, [label(v) for v in taken])
    for x, y in zip(points, metric, strict=True):
        axes.annotate(
            f"{y:.4g}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=9
        )
    axes.margins(y=0.15)
    axes.set_xlabel(key)
    axes.set_ylabel(better(sweep))
    axes.set_title(f"{sweep.metric} by {key}")
    axes.grid(alpha=0.3)
    return figure


def log_axis(sweep: Sweep, key: str) -> bool:
    """Whether `key` is drawn on a log axis: where the study samples it on a log scale, or
    without a study, where its values are positive and span a factor of 10 or more."""
    if sweep.study is not None:
        trials = sweep.study.get_trials(deepcopy=False)
        sampled = next((t.distributions[key] for t in trials if key in t.distributions), None)
        return bool(getattr(sampled, "log", False))
    taken = [v for v in values(sweep, key) if isinstance(v, (int, float))]
    return bool(taken) and min(taken) > 0 and max(taken) / min(taken) >= _LOG_SPAN


def _marker(steps: list[int]) -> str | None:
    """A mark on each point of a sparse curve, so that one of a single point shows too."""
    return "o" if len(steps) < 30 else None


def legend_beside(axes: Any) -> None:
    """The legend right of the plot, where it hides no point."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, borderaxespad=0)


def new_figure(width: float, height: float) -> tuple[Figure, Any]:
    """A figure of `width` by `height` inches with one plot, laid out to fit its labels."""
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.add_subplot()
    axes.set_axisbelow(True)  # the grid behind bars and cells
    return figure, axes
