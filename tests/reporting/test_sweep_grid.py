"""A grid sweep (Hydra's basic sweeper, `-m key=a,b key2=c,d`) in its report: a table of every
combination, and its metric over the swept keys: a heatmap over two (the best over the others
where more vary), a line over one. The numbers come from the trials, checked before drawing."""

import itertools
import json
import math
from pathlib import Path

import pytest
import yaml

from tuneforge.cli import report
from tuneforge.reporting.sweep_folder import read_sweep
from tuneforge.reporting.sweep_grid import combinations, heatmap, swept_keys

from ..conftest import run_tuneforge
from ..sweeps import TINY
from ._sweep_folders import snapshot, trial_folder
from .test_sweep_report import images, png_size

LRS, WIDTHS, DROPOUTS = (0.001, 0.003, 0.01), (4, 8), (0.0, 0.2)


def val_loss(lr: float, width: int, dropout: float) -> float:
    return round(1 + math.log10(lr) / 10 + width / 100 + dropout, 6)


def grid_sweep(folder: Path, keys: int, unfinished: tuple = ()) -> dict[tuple, float]:
    """A basic sweep over the first `keys` of lr, width and dropout, minimizing val/loss; the
    combinations in `unfinished` have no metrics.json. Returns each finished one's val/loss."""
    axes = [LRS, WIDTHS, DROPOUTS][:keys]
    names = ["optimizer.lr", "model.width", "model.dropout"][:keys]
    reached = {}
    for number, values in enumerate(itertools.product(*axes)):
        overrides = [
            "trainer.max_epochs=1",
            *(f"{n}={v}" for n, v in zip(names, values, strict=True)),
        ]
        full = (*values, *(1, 4, 0.0)[keys:])
        metrics = None if values in unfinished else {"best/val/loss": val_loss(*full[:3])}
        if metrics:
            reached[values] = metrics["best/val/loss"]
        trial_folder(folder, number, overrides, metrics)
    return reached


def test_with_three_keys_the_heatmap_shows_the_best_over_the_third(tmp_path):
    reached = grid_sweep(tmp_path, 3, unfinished={(0.01, 8, 0.0), (0.01, 8, 0.2), (0.003, 4, 0.0)})
    sweep = read_sweep(tmp_path)
    assert swept_keys(sweep) == ["optimizer.lr", "model.width", "model.dropout"]

    grid = heatmap(sweep)
    assert (grid.row_key, grid.column_key, grid.others) == (
        "optimizer.lr",
        "model.width",
        ["model.dropout"],
    )
    assert (grid.rows, grid.columns) == (list(LRS), list(WIDTHS))
    best = {
        (lr, width): min(v for (rate, w, _), v in reached.items() if (rate, w) == (lr, width))
        for lr, width in itertools.product(LRS, WIDTHS)
        if (lr, width) != (0.01, 8)
    }
    assert grid.cells == [[best.get((lr, width)) for width in WIDTHS] for lr in LRS]
    assert grid.cells[2][1] is None  # no trial of lr=0.01, width=8 finished
    assert grid.cells[1][0] == reached[(0.003, 4, 0.2)]  # the one of its two that finished

    from tuneforge.reporting.sweep_figures import heatmap_figure

    axes = heatmap_figure(sweep, grid).axes[0]
    written = [text.get_text() for text in axes.texts]
    assert written == [f"{v:.4g}" if v is not None else "—" for row in grid.cells for v in row]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["0.001", "0.003", "0.01"]
    assert "(each cell: the best over model.dropout)" in axes.get_title()


def test_a_grid_report_has_the_table_of_every_combination_and_the_heatmap(tmp_path):
    grid_sweep(tmp_path, 3, unfinished={(0.003, 4, 0.0)})
    trials = snapshot(tmp_path / "1")

    report.main([str(tmp_path)])

    markdown = (tmp_path / "report.md").read_text()
    assert images(markdown) == ["plots/heatmap.png"]
    width, height = png_size(tmp_path / "plots" / "heatmap.png")
    assert 500 <= width <= 1500 and 300 <= height <= 1000
    assert "*Each cell: the best val/loss over model.dropout.*" in markdown
    assert "| trial | optimizer.lr | model.width | model.dropout | val/loss |" in markdown
    assert "| 4 | 0.003 | 4 | 0 | unfinished |" in markdown
    assert f"| 11 | 0.01 | 8 | 0.2 | {val_loss(0.01, 8, 0.2):.4g} |" in markdown
    assert "No trial logged val/loss as it trained" in markdown  # no events: no curves
    assert snapshot(tmp_path / "1") == trials


def test_with_two_keys_every_cell_is_one_trial_and_needs_no_caption(tmp_path):
    reached = grid_sweep(tmp_path, 2)
    grid = heatmap(read_sweep(tmp_path))
    assert grid.others == []
    assert grid.cells == [[reached[(lr, width)] for width in WIDTHS] for lr in LRS]
    report.main([str(tmp_path)])
    assert "Each cell" not in (tmp_path / "report.md").read_text()


def test_with_one_key_the_metric_is_a_line_over_its_values(tmp_path):
    reached = grid_sweep(tmp_path, 1)
    sweep = read_sweep(tmp_path)
    assert heatmap(sweep) is None
    columns, rows = combinations(sweep)
    assert columns == ["trial", "optimizer.lr", "val/loss"]
    assert rows == [[str(i), f"{lr:g}", f"{reached[(lr,)]:.4g}"] for i, lr in enumerate(LRS)]

    from tuneforge.reporting.sweep_figures import metric_by_key_figure

    axes = metric_by_key_figure(sweep, "optimizer.lr").axes[0]
    (line,) = axes.lines
    assert list(line.get_xdata()) == list(LRS)
    assert list(line.get_ydata()) == pytest.approx([reached[(lr,)] for lr in LRS])
    assert axes.get_xscale() == "log"  # 0.001 to 0.01

    report.main([str(tmp_path)])
    assert images((tmp_path / "report.md").read_text()) == ["plots/metric_by_key.png"]
    assert png_size(tmp_path / "plots" / "metric_by_key.png")[0] >= 500


@pytest.mark.slow
def test_a_real_grid_sweep_is_reported_with_its_heatmap_and_learning_curves(tmp_path):
    logged = [o for o in TINY if o != "logger=none"]  # TensorBoard: the trials' curves
    sweep = run_tuneforge(
        "train",
        "-m",
        "optimizer.lr=0.0001,0.03",
        "model.dropout=0.0,0.2",
        *logged,
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=4",  # enough for the trials to reach different values
        "test=false",
        "hydra.sweep.dir=grid",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    result = run_tuneforge("report", "grid", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    markdown = (tmp_path / "grid" / "report.md").read_text()
    assert images(markdown) == ["plots/heatmap.png", "plots/learning_curves.png"]
    assert all(png_size(tmp_path / "grid" / p)[0] >= 500 for p in images(markdown))
    reached = {}
    for number in range(4):
        run = tmp_path / "grid" / str(number)
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        lr, dropout = (float(o.split("=")[1]) for o in overrides if "lr=" in o or "dropout=" in o)
        reached[(lr, dropout)] = json.loads((run / "metrics.json").read_text())["best/val/acc"]
    grid = heatmap(read_sweep(tmp_path / "grid"))
    assert (grid.rows, grid.columns) == ([0.0001, 0.03], [0.0, 0.2])
    assert grid.cells == [[reached[(lr, d)] for d in (0.0, 0.2)] for lr in (0.0001, 0.03)]
    assert len(set(reached.values())) > 1
