"""Scalars read back from real TensorBoard event files, as a resumed run leaves them."""

import os

import pytest
from torch.utils.tensorboard import SummaryWriter

from tuneforge.reporting.events import read_scalars


def _write(folder, name: str, points: dict[str, dict[int, float]]) -> None:
    """An event file `folder/name` holding `points` (tag -> step -> value)."""
    writing = folder.parent / f"writing-{name}"
    writer = SummaryWriter(str(writing))
    for tag, values in points.items():
        for step, value in values.items():
            writer.add_scalar(tag, value, step)
    writer.close()
    (written,) = writing.iterdir()
    folder.mkdir(exist_ok=True)
    os.replace(written, folder / name)


def test_a_resumed_run_reads_as_one_curve_with_the_steps_it_repeated_as_last_logged(tmp_path):
    # Named by creation time: 999 s is older than 1000 s, though it sorts after it as text.
    _write(
        tmp_path / "tensorboard",
        "events.out.tfevents.1000.host",
        {"train/loss": {3: 0.5, 4: 0.4, 5: 0.3}},
    )
    _write(
        tmp_path / "tensorboard",
        "events.out.tfevents.999.host",
        {
            "train/loss": {0: 2.0, 2: 1.0, 3: 0.9, 4: 0.8},
            "epoch": {0: 0.0},
            "hp/test/acc": {0: 1.0},
        },
    )
    curves = read_scalars(tmp_path / "tensorboard")
    assert set(curves) == {"train/loss"}  # the epoch counter and HParams' values are no curves
    assert curves["train/loss"].steps == [0, 2, 3, 4, 5]
    assert curves["train/loss"].values == pytest.approx([2.0, 1.0, 0.5, 0.4, 0.3])  # float32
    assert curves["train/loss"].last == pytest.approx(0.3)


def test_a_folder_without_events_has_no_curves(tmp_path):
    assert read_scalars(tmp_path / "missing") == {}
