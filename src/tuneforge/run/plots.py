"""The run folder's plots/: drawn from what the run logged when training ends, however it ends,
and by `tuneforge report` where they are missing."""

import logging
from pathlib import Path

from tuneforge.atomic_files import atomic_path
from tuneforge.reporting.events import read_curves
from tuneforge.reporting.layout import CONFUSION_MATRIX_CSV, PLOTS

log = logging.getLogger(__name__)


def write_plots(run_dir: Path) -> list[Path]:
    """Draw the figures of `run_dir` from what it logged (TensorBoard events, else the CSV log)
    and its confusion_matrix.csv into `run_dir/plots/NAME.png`, each written whole or not at all;
    return the files written."""
    curves = read_curves(run_dir)
    if not curves and not (run_dir / CONFUSION_MATRIX_CSV).is_file():
        return []  # nothing logged: a run refused before it trained, or run with logger=none
    from tuneforge.reporting.plots import run_figures

    written = []
    for name, draw in run_figures(curves, run_dir).items():
        path = run_dir / PLOTS / f"{name}.png"
        figure = draw()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        written.append(path)
    return written


def write_plots_after_training(run_dir: Path) -> None:
    """`write_plots` at the end of a run that may have failed: a problem drawing is one warning
    line, never the run's error, which the caller is about to raise."""
    try:
        write_plots(run_dir)
    except Exception as ex:
        first = next((line for line in str(ex).splitlines() if line.strip()), "")
        log.warning(
            "plots/ not drawn (%s: %s); `tuneforge report %s` tries again",
            type(ex).__name__,
            first,
            run_dir,
        )
