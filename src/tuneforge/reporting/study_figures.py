"""The figures of an Optuna sweep: its optimization history, its parameters' importances and
its parallel coordinates (`sweep_figures` holds those of every sweep, and their style)."""

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator

from tuneforge.reporting.importances import EVALUATOR
from tuneforge.reporting.sweep_figures import (
    BEST,
    better,
    legend_beside,
    log_axis,
    new_figure,
    ranked_colours,
)
from tuneforge.reporting.sweep_folder import Sweep, Trial
from tuneforge.reporting.sweep_grid import scored_trials

_MAX_TICKS = 6  # on a parallel-coordinates axis
_MIN_TICK_GAP = 0.07  # of its height, between two ticks: closer, their labels would overlap


def history_figure(sweep: Sweep) -> Figure:
    """Each trial's value by trial number, the best so far as a step line; pruned trials at the
    last value they reported, failed ones as marks along the bottom."""
    figure, axes = new_figure(9, 4.5)
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
        axes.step(numbers, so_far, where="post", color=BEST, label="best so far")
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
    legend_beside(axes)
    return figure


def importances_figure(sweep: Sweep, importances: dict[str, float]) -> Figure:
    """A bar per parameter, the most important on top, its share written at the bar's end."""
    names = list(importances)[::-1]  # barh draws from the bottom up
    shares = [importances[name] for name in names]
    figure, axes = new_figure(8, 1.6 + 0.5 * len(names))
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
    figure, axes = new_figure(max(7.0, 2.3 * len(columns)), 5)
    scaled = [_scale([t.params[key] for t in completed], log_axis(sweep, key)) for key in keys]
    scaled.append(_scale([t.value for t in completed], log=False))
    colours = ranked_colours(sweep)
    metric_values = [t.value for t in completed]
    norm = Normalize(min(metric_values), max(metric_values))
    for index, trial in sorted(enumerate(completed), key=lambda it: _rank(it[1], sweep)):
        ys = [scale.positions[index] for scale in scaled]
        if trial is sweep.best:
            axes.plot(range(len(columns)), ys, color=BEST, lw=3.5, zorder=3)
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
        ScalarMappable(norm=norm, cmap=colours), ax=axes, shrink=0.85, pad=0.02, label=better(sweep)
    )
    colorbar.ax.tick_params(labelsize=8)
    best = f"\nthe best, trial {sweep.best.number}, in red" if sweep.best in completed else ""
    axes.set_title(f"Parallel coordinates of the {len(completed)} completed trials{best}")
    return figure


@dataclass
class _Scale:
    """A parallel-coordinates axis: each trial's position in [0, 1] and the labelled ticks."""

    positions: list[float]
    ticks: list[tuple[float, str]]


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


def _points(trials: list[Trial]) -> tuple[list[int], list[float]]:
    return [t.number for t in trials], [t.value for t in trials]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
