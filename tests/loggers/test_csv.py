"""logger=csv alone: the curves read back from Lightning's csv/metrics.csv, plots/ drawn from
them, and `tuneforge report` on such a run."""

import json

import pytest
from lightning.pytorch.loggers import CSVLogger

from tuneforge.reporting.events import read_curves
from tuneforge.reporting.layout import CSV_METRICS

from ..conftest import run_tuneforge
from . import QUICK

PNG = b"\x89PNG\r\n\x1a\n"


def test_the_csv_log_reads_as_curves_when_there_are_no_tensorboard_events(tmp_path):
    logger = CSVLogger(tmp_path, name="csv", version="")
    logger.log_metrics({"train/loss": 2.0, "epoch": 0}, step=0)
    logger.log_metrics({"lr-AdamW": 1e-3}, step=0)
    logger.log_metrics({"train/loss": 1.5, "epoch": 0}, step=1)
    logger.log_metrics({"val/acc": 0.5, "epoch": 0}, step=1)
    logger.log_metrics({"train/loss": 1.25, "epoch": 0}, step=1)  # logged again: the last counts
    logger.save()
    assert (tmp_path / CSV_METRICS).is_file()

    curves = read_curves(tmp_path)
    assert set(curves) == {"train/loss", "lr-AdamW", "val/acc"}  # epoch is a counter
    assert (curves["train/loss"].steps, curves["train/loss"].values) == ([0, 1], [2.0, 1.25])
    assert (curves["val/acc"].steps, curves["val/acc"].values) == ([1], [0.5])
    assert curves["val/acc"].wall_times == []  # the CSV log records no clock


def test_a_damaged_csv_log_is_refused_naming_the_file_and_line(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / CSV_METRICS).write_text("step,train/loss\n0,1.5\n1,lots\n")
    with pytest.raises(ValueError, match=r"metrics\.csv line 3 is no row of metrics"):
        read_curves(tmp_path)


@pytest.mark.slow
def test_a_run_with_the_csv_logger_alone_gets_its_plots_and_a_report(tmp_path):
    run_dir = tmp_path / "run"
    result = run_tuneforge("train", *QUICK, "logger=csv", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run_dir / "tensorboard").exists()
    drawn = {"loss.png", "metrics.png", "lr.png", "confusion_matrix.png"}
    assert {p.name for p in (run_dir / "plots").iterdir()} == drawn
    assert all((run_dir / "plots" / name).read_bytes().startswith(PNG) for name in drawn)

    for png in (run_dir / "plots").iterdir():  # the report draws what is missing
        png.unlink()
    report = run_tuneforge("report", str(run_dir), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert {p.name for p in (run_dir / "plots").iterdir()} == drawn
    final_loss = read_curves(run_dir)["train/loss"].last
    markdown = (run_dir / "report.md").read_text()
    assert f"| train/loss | {final_loss:.4g} |" in markdown
    assert "![loss](plots/loss.png)" in markdown
    assert json.loads((run_dir / "metrics.json").read_text())["steps"] == 3
