"""plots/ drawn from a run's curves and confusion_matrix.csv; a drawing problem at the end of
training is one warning, and the figures before it are kept."""

import logging

import pytest

from tuneforge.reporting.events import Curve
from tuneforge.reporting.plots import read_confusion_matrix, run_figures
from tuneforge.run.plots import write_plots, write_plots_after_training

PNG = b"\x89PNG\r\n\x1a\n"
MATRIX = "true,cat,dog\ncat,5,1\ndog,2,7\n"


def _curve(*values: float) -> Curve:
    steps = list(range(0, 10 * len(values), 10))
    return Curve(steps, list(values), [float(s) for s in steps])


CURVES = {
    "train/loss": _curve(2.0, 1.0, 0.5),
    "val/loss": _curve(1.5, 0.9),
    "train/acc": _curve(0.3, 0.6, 0.8),
    "val/acc": _curve(0.5, 0.7),
    "val/f1": _curve(0.4, 0.6),
    "test/acc": _curve(0.72),  # one number: in the report, not a curve
    "lr-AdamW/decay": _curve(1e-3, 5e-4, 1e-4),
    "lr-AdamW/no_decay": _curve(1e-3, 5e-4, 1e-4),
}


def test_each_figure_shows_the_curves_of_its_metric_for_train_and_val(tmp_path):
    figures = {name: draw() for name, draw in run_figures(CURVES, tmp_path).items()}
    assert list(figures) == ["loss", "metrics", "lr"]
    (loss,) = figures["loss"].axes
    assert [line.get_label() for line in loss.lines] == ["train", "val"]
    assert list(loss.lines[0].get_ydata()) == [2.0, 1.0, 0.5]
    panels = [axes for axes in figures["metrics"].axes if axes.get_visible()]
    assert {axes.get_title(): len(axes.lines) for axes in panels} == {"acc": 2, "f1": 1}
    (rates,) = figures["lr"].axes
    assert [line.get_label() for line in rates.lines] == ["AdamW/decay", "AdamW/no_decay"]


def test_the_confusion_matrix_is_drawn_from_its_csv(tmp_path):
    (tmp_path / "confusion_matrix.csv").write_text(MATRIX)
    assert read_confusion_matrix(tmp_path / "confusion_matrix.csv") == (
        [[5, 1], [2, 7]],
        ["cat", "dog"],
    )
    figure = run_figures({}, tmp_path)["confusion_matrix"]()
    assert "15 samples" in figure.axes[0].get_title()


def test_a_csv_in_another_shape_is_refused_by_name(tmp_path):
    (tmp_path / "confusion_matrix.csv").write_text("label,cat,dog\ncat,5,1\ndog,2,7\n")
    with pytest.raises(ValueError, match=r"confusion_matrix\.csv must have a header `true,CLASS"):
        read_confusion_matrix(tmp_path / "confusion_matrix.csv")


def test_plots_are_png_files_in_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr("tuneforge.run.plots.read_curves", lambda folder: CURVES)
    (tmp_path / "confusion_matrix.csv").write_text(MATRIX)
    written = write_plots(tmp_path)
    assert [path.name for path in written] == [
        "loss.png",
        "metrics.png",
        "lr.png",
        "confusion_matrix.png",
    ]
    assert all(path.read_bytes().startswith(PNG) for path in written)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(p.name for p in written)


def test_a_run_that_logged_nothing_gets_no_plots_folder(tmp_path):
    assert write_plots(tmp_path) == []
    assert not (tmp_path / "plots").exists()


def test_at_the_end_of_training_a_drawing_error_is_one_warning_and_the_curves_are_kept(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr("tuneforge.run.plots.read_curves", lambda folder: CURVES)
    (tmp_path / "confusion_matrix.csv").write_text("not,a,matrix\n")
    with caplog.at_level(logging.WARNING):
        write_plots_after_training(tmp_path)  # does not raise
    (warning,) = caplog.records
    assert warning.getMessage().startswith("plots/ not drawn (ValueError: confusion_matrix.csv")
    assert f"tuneforge report {tmp_path}" in warning.getMessage()
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "loss.png",
        "lr.png",
        "metrics.png",
    ]
