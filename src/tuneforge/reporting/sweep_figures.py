"""The figures of a sweep folder's plots/: for an Optuna study its optimization history,
parameter importances and parallel coordinates; for a grid, the metric over its swept keys; for
both, every trial's learning curve with the best one's drawn over the others.

Each figure names the metric and whether higher or lower is better. Figures are
`matplotlib.figure.Figure`s (no display, no global state), drawn with a constrained layout so that
long parameter names and tick labels do not overlap; the caller saves them. Import this module
only where there is something to draw: matplotlib takes a while to import.
"""

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator

from tuneforge.reporting.importances import EVALUATOR
from tuneforge.reporting.sweep_folder import Sweep, Trial
from tuneforge.reporting.sweep_grid import Heatmap, best_by, label, scored_trials, values

# Without a study to say how a parameter was sampled, numbers that span this factor or more are
# drawn on a log axis (learning rates).
_LOG_SPAN = 10
# Higher is better: the best trials are drawn in the colormap's bright end either way.
_COLORMAP = "viridis"
_BEST = "tab:red"
_MAX_TICKS = 6  # on a parallel-coordinates axis
_MIN_TICK_GAP = 0.07  # of its height, between two ticks: closer, their labels would overlap


def better(sweep: Sweep) -> str:
    """The metric with the way it is better, for an axis or a colorbar: `val/acc (higher is
    better)`."""
    return f"{sweep.metric} ({'higher' if sweep.mode == 'max' else 'lower'} is better)"


def history_figure(sweep: Sweep) -> Figure:
    """Each trial's value by trial number, the best so far as a step line; pruned trials at the
    last value they reported, failed ones as marks along the bottom."""
    figure, axes = _figure(9, 4.5)
    trials = sorted(sweep.trials, key=lambda trial: trial.number)
    completed = sorted(scored_trials(sweep), key=lambda trial: trial.number)
    pruned = [t for t in trials if t.state == "PRUNED" and _finite(t.value)]
    failed = [t for t in trials if t not in completed and t not in pruned]
    axes.plot(*_points(completed), "o", color="tab:blue", label="completed")
    if pruned:
        axes.plot(
            *_points(pruned), "o", mfc="none", color="tab:orange", label="pruned (last value)"
        )
    if completed:
        pick = max if sweep.mode == "max" else min
        so_far = [pick(t.value for t in completed[: i + 1]) for i in range(len(completed))]
        numbers = [t.number for t in completed]
        axes.step(numbers, so_far, where="post", color=_BEST, label="best so far")
    if failed:
        numbers = [t.number for t in failed]
        marks = axes.get_xaxis_transform()  # y in axes units: along the bottom
        axes.plot(numbers, [0.03] * len(numbers), "x", color="0.4", transform=marks)
        axes.plot([], [], "x", color="0.4", label="failed or running (no value)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("trial")
    axes.set_ylabel(better(sweep))
    axes.set_title(f"Optimization history: {sweep.metric} over {len(trials)} trials")
    axes.grid(alpha=0.3)
    _legend_beside(axes)
    return figure


def importances_figure(sweep: Sweep, importances: dict[str, float]) -> Figure:
    """A bar per parameter, the most important on top, its share written at the bar's end."""
    names = list(importances)[::-1]  # barh draws from the bottom up
    shares = [importances[name] for name in names]
    figure, axes = _figure(8, 1.6 + 0.5 * len(names))
    axes.barh(names, shares, color="tab:blue")
    for row, share in enumerate(shares):
        axes.text(share, row, f" {share:.2f}", va="center", fontsize=9)
    axes.set_xlim(0, max(shares) * 1.15 or 1)
    axes.set_xlabel(f"importance ({EVALUATOR}: share of the objective's variance)")
    axes.set_title(f"Parameter importances for {sweep.metric}")
    axes.grid(axis="x", alpha=0.3)
    return figure


def parallel_coordinates_figure(sweep: Sweep, keys: list[str]) -> Figure:
    """One vertical axis per parameter of `keys` (each completed trial was given them) and one
    for the metric; each completed trial is a line across them, coloured by its metric, the best
    drawn thick in red."""
    completed = scored_trials(sweep)
    columns = [*keys, sweep.metric]
    figure, axes = _figure(max(7.0, 2.3 * len(columns)), 5)
    scaled = [_scale([t.params[key] for t in completed], _log_axis(sweep, key)) for key in keys]
    scaled.append(_scale([t.value for t in completed], log=False))
    colours = colormaps[_COLORMAP if sweep.mode == "max" else f"{_COLORMAP}_r"]
    metric_values = [t.value for t in completed]
    norm = Normalize(min(metric_values), max(metric_values))
    for index, trial in sorted(enumerate(completed), key=lambda it: _rank(it[1], sweep)):
        ys = [scale.positions[index] for scale in scaled]
        if trial is sweep.best:
            axes.plot(range(len(columns)), ys, color=_BEST, lw=3.5, zorder=3)
        else:
            axes.plot(range(len(columns)), ys, color=colours(norm(trial.value)), lw=1.5, alpha=0.8)
    for x, scale in enumerate(scaled):
        axes.axvline(x, color="0.2", lw=1)
        for position, text in scale.ticks:
            axes.text(
                x - 0.03,
                position,
                text,
                ha="right",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    axes.set_xticks(range(len(columns)), columns, fontsize=9)
    axes.set_xlim(-0.45, len(columns) - 0.8)
    axes.set_ylim(-0.05, 1.05)
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    colorbar = figure.colorbar(
        _mappable(colours, norm), ax=axes, shrink=0.85, pad=0.02, label=better(sweep)
    )
    colorbar.ax.tick_params(labelsize=8)
    best = f"\nthe best, trial {sweep.best.number}, in red" if sweep.best in completed else ""
    axes.set_title(f"Parallel coordinates of the {len(completed)} completed trials{best}")
    return figure


def learning_curves_figure(sweep: Sweep) -> Figure:
    """The monitored metric over the training steps of every trial that logged it: the others
    faint and grey, the best trial in red over them."""
    figure, axes = _figure(9, 4.5)
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
            color=_BEST,
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
    _legend_beside(axes)
    return figure


def heatmap_figure(sweep: Sweep, heatmap: Heatmap) -> Figure:
    """The metric in a cell per combination of two keys, its value written in the cell; a grey
    cell had no completed trial."""
    cells = np.array(
        [[math.nan if v is None else v for v in row] for row in heatmap.cells], dtype=float
    )
    rows, columns = cells.shape
    figure, axes = _figure(max(5.5, 1.2 * columns + 3), max(3.5, 0.6 * rows + 2))
    colours = colormaps[_COLORMAP if sweep.mode == "max" else f"{_COLORMAP}_r"].with_extremes(
        bad="0.85"
    )
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
    figure, axes = _figure(7, 4.2)
    if all(isinstance(v, (int, float)) for v in taken):
        axes.plot(taken, metric, "o-", color="tab:blue")
        if _log_axis(sweep, key):
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


@dataclass
class _Scale:
    """A parallel-coordinates axis: each trial's position in [0, 1] and the labelled ticks."""

    positions: list[float]
    ticks: list[tuple[float, str]]


def _log_axis(sweep: Sweep, key: str) -> bool:
    """Whether `key` is drawn on a log axis: where the study samples it on a log scale, or
    without a study, where its values are positive and span a factor of 10 or more."""
    if sweep.study is not None:
        trials = sweep.study.get_trials(deepcopy=False)
        sampled = next((t.distributions[key] for t in trials if key in t.distributions), None)
        return bool(getattr(sampled, "log", False))
    taken = [v for v in values(sweep, key) if isinstance(v, (int, float))]
    return bool(taken) and min(taken) > 0 and max(taken) / min(taken) >= _LOG_SPAN


def _scale(column: list[Any], log: bool) -> _Scale:
    """Positions for a column of values: numbers spread between their least and greatest (on a
    log scale with `log`), names evenly in sorted order. A few numbers far enough apart are each
    a tick (the choices of a categorical); others get ticks at round values."""
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column):
        names = sorted({str(v) for v in column})
        spot = {name: (i + 0.5) / len(names) for i, name in enumerate(names)}
        return _Scale([spot[str(v)] for v in column], [(spot[n], n) for n in names])
    low, high = min(column), max(column)
    if low == high:
        return _Scale([0.5] * len(column), [(0.5, f"{low:.4g}")])
    to = math.log10 if log else float

    def position(value: float) -> float:
        return (to(value) - to(low)) / (to(high) - to(low))

    ticks = sorted(set(column))
    gaps = [position(b) - position(a) for a, b in pairwise(ticks)]
    if len(ticks) > _MAX_TICKS or min(gaps) < _MIN_TICK_GAP:
        locator = LogLocator(subs=(1.0, 3.0)) if log else MaxNLocator(_MAX_TICKS)
        ticks = [float(t) for t in locator.tick_values(low, high) if low <= t <= high]
    return _Scale([position(v) for v in column], [(position(t), f"{t:.4g}") for t in ticks])


def _rank(trial: Trial, sweep: Sweep) -> float:
    """Worst first, so the better trials' lines are drawn over the worse ones."""
    return trial.value if sweep.mode == "max" else -trial.value


def _mappable(colours: Any, norm: Normalize) -> Any:
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=colours)


def _points(trials: list[Trial]) -> tuple[list[int], list[float]]:
    return [t.number for t in trials], [t.value for t in trials]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _marker(steps: list[int]) -> str | None:
    """A mark on each point of a sparse curve, so that one of a single point shows too."""
    return "o" if len(steps) < 30 else None


def _legend_beside(axes: Any) -> None:
    """The legend right of the plot, where it hides no point."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, borderaxespad=0)


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()
