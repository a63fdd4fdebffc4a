"""The scalars a run logged, read back: `read_curves` takes them from whichever logger wrote
them, its TensorBoard event files or else its CSV log (reporting/csv_log.py)."""

from dataclasses import dataclass
from pathlib import Path

from tuneforge.reporting.layout import CSV_METRICS, TENSORBOARD


@dataclass(frozen=True)
class Curve:
    """One scalar tag over training: steps in order, each with its value and wall time (no wall
    times where the logger records no clock: the CSV log)."""

    steps: list[int]
    values: list[float]
    wall_times: list[float]

    @property
    def last(self) -> float:
        return self.values[-1]


def read_curves(run_dir: Path) -> dict[str, Curve]:
    """The curves the run at `run_dir` logged: from its TensorBoard events, or where it wrote
    none (`logger=csv`), from its csv/metrics.csv; an empty dict where it logged neither."""
    from tuneforge.reporting.csv_log import read_csv_scalars

    return read_scalars(run_dir / TENSORBOARD) or read_csv_scalars(run_dir / CSV_METRICS)


def read_scalars(tensorboard_dir: Path) -> dict[str, Curve]:
    """Every scalar tag in the event files under `tensorboard_dir`, by tag.

    Files are read oldest first and a step logged again replaces the earlier value, so a run
    resumed from a checkpoint reads as one run: the steps it repeated count once, as last logged.
    An empty dict when there are no event files.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    by_tag: dict[str, dict[int, tuple[float, float]]] = {}
    for path in sorted(tensorboard_dir.glob("**/events.out.tfevents.*"), key=_written_at):
        events = EventAccumulator(str(path), size_guidance={"scalars": 0})  # 0: keep every point
        events.Reload()
        for tag in events.Tags()["scalars"]:
            if tag == "epoch" or tag.startswith("hp/"):  # a counter; final metrics for HParams
                continue
            points = by_tag.setdefault(tag, {})
            for event in events.Scalars(tag):
                points[event.step] = (event.value, event.wall_time)
    curves = {}
    for tag, points in by_tag.items():
        steps = sorted(points)
        curves[tag] = Curve(steps, [points[s][0] for s in steps], [points[s][1] for s in steps])
    return curves


def _written_at(path: Path) -> tuple[int, str]:
    """An event file's creation time, from its name (events.out.tfevents.SECONDS.HOST...)."""
    seconds = path.name.split(".")[3]
    return (int(seconds) if seconds.isdigit() else 0, path.name)
