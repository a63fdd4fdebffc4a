"""`tuneforge report FOLDER`: summarize a run or a sweep folder and write its report.md.

A run's report holds its key config, best and final metrics, wall time, parameter count and
plots (drawn first where missing); a sweep's, one row per trial, best first, and its figures
(drawn again each time into the sweep folder's plots/). Nothing here imports
torch, except to count a model's parameters from a checkpoint when metrics.json does not hold
them (a run of an older tuneforge, or one that did not finish).
"""

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuneforge.atomic_files import write_atomic
from tuneforge.errors import ConfigError, DataError
from tuneforge.reporting.layout import METRICS, PLOTS, REPORT
from tuneforge.reporting.markdown import to_markdown
from tuneforge.reporting.run_folder import is_run, read_run
from tuneforge.reporting.summary import BEST, Summary, run_summary
from tuneforge.reporting.sweep_folder import is_sweep, read_sweep
from tuneforge.reporting.sweep_report import sweep_report
from tuneforge.run.plots import write_plots

RUN_OR_SWEEP = "a run folder (outputs/train/DATE_TIME) or a sweep folder (multirun/train/NAME)"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneforge report",
        description=(
            "Print a summary of a run or a sweep and write it, with its plots, to FOLDER/report.md."
        ),
        epilog="Example: tuneforge report outputs/train/2026-01-31_12-00-00",
    )
    parser.add_argument("folder", type=Path, help=RUN_OR_SWEEP)
    return parser


def main(args: list[str]) -> None:
    folder = parser().parse_args(args).folder
    summary = summarize(folder)
    write_atomic(folder / REPORT, lambda handle: handle.write(to_markdown(summary)))
    show(summary, Console())
    print(f"Wrote {folder / REPORT}")


def summarize(folder: Path) -> Summary:
    """The Summary of a run or sweep folder; a ConfigError when it is neither, a DataError for a
    run that logged nothing to report."""
    if not folder.is_dir():
        raise ConfigError(f"{folder} does not exist; name {RUN_OR_SWEEP}")
    if is_run(folder):
        run = _read(read_run, folder)
        if run.metrics is None and not run.curves:
            raise DataError(
                f"{folder} has no {METRICS} and no logged metrics (TensorBoard events or "
                "csv/metrics.csv): the run stopped before it logged anything, or logged with "
                "logger=none; train it again with logger=tensorboard or csv and report that run"
            )
        if not any((folder / PLOTS).glob("*.png")):
            write_plots(folder)
        return run_summary(run)
    if is_sweep(folder):
        return sweep_report(_read(read_sweep, folder))
    raise ConfigError(
        f"{folder} is not a run folder (no .hydra/config.yaml) nor a sweep folder (no numbered "
        f"trial folders, no optuna.db); name {RUN_OR_SWEEP}"
    )


def _read(reader: Callable[[Path], Any], folder: Path) -> Any:
    """`reader(folder)`, with a file it cannot parse named in a DataError."""
    try:
        return reader(folder)
    except ValueError as ex:
        raise DataError(f"{ex}; fix or remove that file, or report another folder") from ex


def show(summary: Summary, console: Console) -> None:
    """The summary on the terminal: its notes, then each table with Rich."""
    console.print(Text(summary.title, style="bold"))
    for note in summary.notes:
        console.print(note, markup=False)
    for table in summary.tables:
        shown = Table(title=table.title, show_header=any(table.columns))
        for column in table.columns:
            shown.add_column(column, overflow="fold")
        for row in table.rows:
            shown.add_row(*map(Text, row), style="bold green" if row and row[0] == BEST else None)
        console.print(shown)
    for plot in summary.plots:
        caption = f" ({summary.captions[plot]})" if plot in summary.captions else ""
        console.print(f"plot: {plot}{caption}", markup=False)
