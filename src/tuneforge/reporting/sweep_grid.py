"""A grid sweep's numbers, for its table and heatmap: which keys it varied, and the metric each
combination of their values reached. Kept apart from the drawing, so that what a figure shows
can be checked against the trials without reading pixels."""

import math
from dataclasses import dataclass
from typing import Any

from tuneforge.reporting.summary import number
from tuneforge.reporting.sweep_folder import Sweep, Trial


@dataclass(frozen=True)
class Heatmap:
    """The metric over two swept keys: `cells[row][column]` is the best value at
    (`rows[row]`, `columns[column]`) over the `others` keys, None where no trial completed."""

    row_key: str
    column_key: str
    rows: list[Any]
    columns: list[Any]
    cells: list[list[float | None]]
    others: list[str]


def swept_keys(sweep: Sweep) -> list[str]:
    """The keys whose value differs between trials, in the order the overrides name them."""
    keys = list(dict.fromkeys(key for trial in sweep.trials for key in trial.params))
    return [key for key in keys if len(values(sweep, key)) > 1]


def values(sweep: Sweep, key: str) -> list[Any]:
    """The values `key` took in the sweep, in order: numbers first, ascending, then text."""
    taken = {trial.params[key] for trial in sweep.trials if key in trial.params}
    return sorted(taken, key=lambda value: (isinstance(value, str), value))


def label(value: Any) -> str:
    """A value as a tick label or table cell: floats short (0.001, 3e-05), the rest as text."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def best_by(sweep: Sweep, keys: list[str]) -> dict[tuple, float]:
    """The best metric of the completed trials at each combination of `keys`' values."""
    pick = max if sweep.mode == "max" else min
    best: dict[tuple, float] = {}
    for trial in scored_trials(sweep):
        if all(key in trial.params for key in keys):
            at = tuple(trial.params[key] for key in keys)
            best[at] = pick(best[at], trial.value) if at in best else trial.value
    return best


def heatmap(sweep: Sweep) -> Heatmap | None:
    """The metric over the two swept keys with the most values (the first named, on a tie), the
    best over any other key taken in each cell; None with fewer than two swept keys."""
    keys = swept_keys(sweep)
    if len(keys) < 2:
        return None
    row_key, column_key = sorted(keys, key=lambda key: -len(values(sweep, key)))[:2]
    best = best_by(sweep, [row_key, column_key])
    rows, columns = values(sweep, row_key), values(sweep, column_key)
    cells = [[best.get((row, column)) for column in columns] for row in rows]
    others = [key for key in keys if key not in (row_key, column_key)]
    return Heatmap(row_key, column_key, rows, columns, cells, others)


def combinations(sweep: Sweep) -> tuple[list[str], list[list[str]]]:
    """The columns and rows of a table of every trial's swept values and metric, in the order of
    the values; a trial without a value shows its state instead (unfinished)."""
    keys = swept_keys(sweep)

    def order(trial: Trial) -> tuple:
        return tuple((isinstance(v, str), v) for v in (trial.params.get(key, "") for key in keys))

    rows = [
        [
            str(trial.number),
            *(label(trial.params.get(key, "")) for key in keys),
            number(trial.value) or trial.state.lower(),
        ]
        for trial in sorted(sweep.trials, key=order)
    ]
    return ["trial", *keys, sweep.metric], rows


def scored_trials(sweep: Sweep) -> list[Trial]:
    """The completed trials with a finite value."""
    return [
        trial
        for trial in sweep.trials
        if trial.state == "COMPLETE" and trial.value is not None and math.isfinite(trial.value)
    ]
