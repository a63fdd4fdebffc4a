"""A sweep's report.md shows its pictures: an Optuna study's history, parameter importances (or
the sentence that says why there are none), parallel coordinates and learning curves; a grid's
metric over its keys. PNGs land in the sweep folder's plots/, linked by relative paths, and the
trial folders are left as they were."""

import struct
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from tuneforge.cli import report
from tuneforge.reporting.importances import param_importances
from tuneforge.reporting.sweep_folder import read_sweep

from ._sweep_folders import snapshot, trial_folder

PNG = b"\x89PNG\r\n\x1a\n"
ACC = ("val/acc", "max")
SPACE = {
    "optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True),
    "model": CategoricalDistribution(["cnn", "mlp"]),
}


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its header; fails on a file that is no PNG."""
    data = path.read_bytes()
    assert data.startswith(PNG) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def images(markdown: str) -> list[str]:
    return [line[line.index("(") + 1 : -1] for line in markdown.splitlines() if line[:2] == "!["]


def optuna_sweep(folder: Path, trials: list[tuple], space: dict = SPACE) -> None:
    """A study maximizing val/acc in `folder`/optuna.db with `trials` (state, value, params, the
    values it reported by step), each with its run folder where it has a value."""
    study = optuna.create_study(
        study_name="s", storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize"
    )
    for number, (state, value, params, reported) in enumerate(trials):
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params=params,
                distributions={key: space[key] for key in params},
                intermediate_values=reported,
            )
        )
        if reported:
            overrides = [f"{key}={value}" for key, value in params.items()]
            metrics = {"best/val/acc": value} if state == TrialState.COMPLETE else None
            trial_folder(folder, number, overrides, metrics, ACC, curve=reported)


def test_an_optuna_sweep_shows_its_history_importances_coordinates_and_curves(tmp_path, capsys):
    complete, pruned, failed = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
    optuna_sweep(
        tmp_path,
        [
            (complete, 0.52, {"optimizer.lr": 3e-4, "model": "cnn"}, {10: 0.30, 20: 0.52}),
            (complete, 0.81, {"optimizer.lr": 3e-3, "model": "cnn"}, {10: 0.60, 20: 0.81}),
            (pruned, None, {"optimizer.lr": 5e-2, "model": "mlp"}, {10: 0.12}),
            (failed, None, {"optimizer.lr": 9e-2, "model": "mlp"}, {}),
            (complete, 0.64, {"optimizer.lr": 1e-3, "model": "mlp"}, {10: 0.40, 20: 0.64}),
            (complete, 0.47, {"optimizer.lr": 2e-4, "model": "mlp"}, {10: 0.20, 20: 0.47}),
        ],
    )
    trials = snapshot(tmp_path / "0")

    report.main([str(tmp_path)])

    drawn = ["history", "importances", "parallel_coordinates", "learning_curves"]
    markdown = (tmp_path / "report.md").read_text()
    assert images(markdown) == [f"plots/{name}.png" for name in drawn]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        f"{name}.png" for name in drawn
    )
    for name in drawn:
        width, height = png_size(tmp_path / "plots" / f"{name}.png")
        assert 600 <= width <= 2000 and 150 <= height <= 1200, (name, width, height)
    assert "plot: plots/learning_curves.png" in capsys.readouterr().out
    assert snapshot(tmp_path / "0") == trials  # read, never written


def test_the_learning_curves_draw_the_best_trial_over_the_others(tmp_path):
    from tuneforge.reporting.sweep_figures import learning_curves_figure

    optuna_sweep(
        tmp_path,
        [
            (TrialState.COMPLETE, 0.5, {"optimizer.lr": 3e-4}, {10: 0.3, 20: 0.5}),
            (TrialState.COMPLETE, 0.8, {"optimizer.lr": 3e-3}, {10: 0.6, 20: 0.8}),
            (TrialState.PRUNED, None, {"optimizer.lr": 5e-2}, {10: 0.1}),
        ],
    )
    (axes,) = learning_curves_figure(read_sweep(tmp_path)).axes
    best = [line for line in axes.lines if line.get_label().startswith("best")]
    assert [line.get_label() for line in best] == ["best: trial 1 (0.8)"]
    assert list(best[0].get_xdata()) == [10, 20]
    assert list(best[0].get_ydata()) == pytest.approx([0.6, 0.8])
    assert axes.get_ylabel() == "val/acc (higher is better)"
    assert len([line for line in axes.lines if line.get_alpha() == 0.45]) == 2  # the others


@pytest.mark.parametrize(
    ("trials", "sentence"),
    [
        (
            [(0.5, {"optimizer.lr": 1e-3, "model": "cnn"})],
            "Parameter importances need at least 2 completed trials; 1 completed.",
        ),
        (
            [(0.5, {"optimizer.lr": 1e-3}), (0.7, {"optimizer.lr": 1e-2})],
            "Parameter importances compare parameters, and only optimizer.lr took more than one "
            "value in the completed trials.",
        ),
        (
            [
                (0.5, {"optimizer.lr": 1e-3, "model": "cnn"}),
                (0.5, {"optimizer.lr": 1e-2, "model": "mlp"}),
            ],
            "Every completed trial reached val/acc=0.5: no parameter made a difference, so there "
            "are no parameter importances.",
        ),
    ],
    ids=["one trial", "one parameter", "equal values"],
)
def test_where_importances_cannot_be_computed_the_report_says_why(tmp_path, trials, sentence):
    optuna_sweep(tmp_path, [(TrialState.COMPLETE, v, p, {5: v}) for v, p in trials])
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "importances.png").write_bytes(PNG)  # of an earlier report
    assert param_importances(read_sweep(tmp_path)) == sentence

    report.main([str(tmp_path)])

    markdown = (tmp_path / "report.md").read_text()
    assert sentence in markdown
    assert "plots/importances.png" not in images(markdown)
    assert not (tmp_path / "plots" / "importances.png").exists()
    assert "plots/history.png" in images(markdown)


def test_importances_rank_the_parameter_that_moved_the_metric_first(tmp_path):
    lrs = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    optuna_sweep(
        tmp_path,
        [
            (
                TrialState.COMPLETE,
                0.1 * i,
                {"optimizer.lr": lr, "model": "cnn" if i % 2 else "mlp"},
                {},
            )
            for i, lr in enumerate(lrs)
        ],
    )
    importances = param_importances(read_sweep(tmp_path))
    assert list(importances) == ["optimizer.lr", "model"]
    assert sum(importances.values()) == pytest.approx(1.0)
