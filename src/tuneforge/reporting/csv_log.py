"""The scalars of a run logged with `logger=csv`, read back from Lightning's csv/metrics.csv."""

import csv
from pathlib import Path

from tuneforge.reporting.events import Curve

# Columns that are no curves: the step every row holds, and Lightning's epoch counter.
_NOT_CURVES = ("step", "epoch")


def read_csv_scalars(path: Path) -> dict[str, Curve]:
    """Every metric column of the CSVLogger file at `path`, as a curve over its `step` column.

    Each row holds the metrics of one logging call, the others' cells empty; a step logged again
    replaces the earlier value. The file records no clock: the curves' wall times are empty.
    An empty dict when there is no such file.

    Raises:
        ValueError: a row whose step or value is not a number; the message names the file.
    """
    if not path.is_file():
        return {}
    by_tag: dict[str, dict[int, float]] = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                step = int(float(row["step"]))
                for tag, cell in row.items():
                    if tag not in _NOT_CURVES and cell:
                        by_tag.setdefault(tag, {})[step] = float(cell)
            except (KeyError, TypeError, ValueError) as ex:
                raise ValueError(f"{path} line {line} is no row of metrics ({ex})") from ex
    return {
        tag: Curve(sorted(points), [points[s] for s in sorted(points)], [])
        for tag, points in by_tag.items()
    }
