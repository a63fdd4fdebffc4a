"""A sweep's report with its pictures: the trials table, then for an Optuna study its history,
parameter importances and parallel coordinates, for a grid the metric over its swept keys (a
table and a heatmap), and for both every trial's learning curve against the best one's.

The figures are drawn again at each report (a study may have grown since) into the sweep
folder's plots/, each PNG written whole or not at all; the trial folders are only read.
"""

from collections.abc import Callable
from functools import partial

from tuneforge.atomic_files import atomic_path
from tuneforge.reporting.importances import param_importances
from tuneforge.reporting.layout import PLOTS
from tuneforge.reporting.summary import Summary, Table, sweep_summary
from tuneforge.reporting.sweep_folder import Sweep
from tuneforge.reporting.sweep_grid import combinations, heatmap, scored_trials, swept_keys

# Every figure a sweep's report may draw, in the order report.md shows them: one not drawn this
# time is removed from plots/, so the folder never shows a picture of an older study.
FIGURES = (
    "history",
    "importances",
    "parallel_coordinates",
    "heatmap",
    "metric_by_key",
    "learning_curves",
)


def sweep_report(sweep: Sweep) -> Summary:
    """The sweep's summary, with its figures drawn into `sweep.path/plots/` and linked."""
    summary = sweep_summary(sweep)
    figures = _figures(sweep, summary)
    for name in FIGURES:
        path = sweep.path / PLOTS / f"{name}.png"
        if name not in figures:
            path.unlink(missing_ok=True)
            continue
        draw, caption = figures[name]
        figure = draw()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        summary.plots.append(f"{PLOTS}/{path.name}")
        if caption:
            summary.captions[summary.plots[-1]] = caption
    return summary


def _figures(sweep: Sweep, summary: Summary) -> dict[str, tuple[Callable, str]]:
    """What to draw, by file stem: each figure's drawing and its caption; what cannot be drawn
    is a note of `summary` instead."""
    from tuneforge.reporting import study_figures, sweep_figures

    figures: dict[str, tuple[Callable, str]] = {}
    keys = swept_keys(sweep)
    scored = scored_trials(sweep)
    if sweep.kind == "optuna":
        figures["history"] = (partial(study_figures.history_figure, sweep), "")
        importances = param_importances(sweep)
        if isinstance(importances, str):
            summary.notes.append(importances)
        else:
            figures["importances"] = (
                partial(study_figures.importances_figure, sweep, importances),
                "",
            )
        everywhere = [key for key in keys if all(key in t.params for t in scored)]
        if everywhere and scored:
            parallel = partial(study_figures.parallel_coordinates_figure, sweep, everywhere)
            figures["parallel_coordinates"] = (parallel, "")
    else:
        columns, rows = combinations(sweep)
        summary.tables.append(Table(f"{sweep.metric} of every combination", columns, rows))
        grid = heatmap(sweep)
        if grid is not None:
            caption = (
                f"Each cell: the best {sweep.metric} over {', '.join(grid.others)}."
                if grid.others
                else ""
            )
            figures["heatmap"] = (partial(sweep_figures.heatmap_figure, sweep, grid), caption)
        elif keys and scored:
            figures["metric_by_key"] = (
                partial(sweep_figures.metric_by_key_figure, sweep, keys[0]),
                "",
            )
    if any(trial.curve is not None for trial in sweep.trials):
        figures["learning_curves"] = (partial(sweep_figures.learning_curves_figure, sweep), "")
    else:
        summary.notes.append(
            f"No trial logged {sweep.metric} as it trained (logger=none?): no learning curves."
        )
    return figures
