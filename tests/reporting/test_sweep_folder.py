"""A sweep folder read back: Hydra's basic sweeper's numbered runs, and an Optuna study's trials
with their states; best first, the best trial marked, in the terminal and in report.md alike."""

from pathlib import Path

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from tuneforge.reporting.markdown import to_markdown
from tuneforge.reporting.summary import sweep_summary
from tuneforge.reporting.sweep_folder import is_sweep, read_sweep

from ._sweep_folders import trial_folder

SHARED = ["trainer.max_epochs=1", "model=mlp"]


def _trial_folder(sweep: Path, number: int, lr: float, metrics: dict | None, extra=()) -> None:
    trial_folder(sweep, number, [*SHARED, f"optimizer.lr={lr}", *extra], metrics)


def test_a_basic_sweep_lists_its_runs_best_first_with_what_each_changed(tmp_path):
    _trial_folder(tmp_path, 0, 0.1, {"best/val/loss": 0.8})
    _trial_folder(tmp_path, 1, 0.01, {"best/val/loss": 0.3})
    _trial_folder(tmp_path, 2, 0.001, None)  # killed before it finished
    (tmp_path / "multirun.yaml").write_text("hydra: {}\n")
    assert is_sweep(tmp_path) and not is_sweep(tmp_path / "0")

    sweep = read_sweep(tmp_path)
    assert (sweep.kind, sweep.metric, sweep.mode) == ("basic", "val/loss", "min")
    assert sweep.shared == SHARED
    rows = [(t.number, t.state, t.value, t.changes) for t in sweep.trials]
    assert rows == [
        (1, "COMPLETE", 0.3, ["optimizer.lr=0.01"]),
        (0, "COMPLETE", 0.8, ["optimizer.lr=0.1"]),
        (2, "UNFINISHED", None, ["optimizer.lr=0.001"]),
    ]
    assert sweep.best.number == 1

    markdown = to_markdown(sweep_summary(sweep))
    assert "| best | 1 | complete | 0.3 | optimizer.lr=0.01 |" in markdown
    assert "|  | 2 | unfinished |  | optimizer.lr=0.001 |" in markdown
    assert "Every trial: `trainer.max_epochs=1 model=mlp`" in markdown


def test_an_optuna_sweep_shows_each_trials_state_from_its_study(tmp_path):
    study = optuna.create_study(
        study_name="mine", storage=f"sqlite:///{tmp_path / 'optuna.db'}", direction="maximize"
    )
    lr = {"optimizer.lr": FloatDistribution(1e-4, 1e-1, log=True)}
    for state, value, params, reported in [
        (TrialState.COMPLETE, 0.7, 0.01, {0: 0.6, 1: 0.7}),
        (TrialState.PRUNED, None, 0.05, {0: 0.2}),
        (TrialState.FAIL, None, 0.09, {}),
        (TrialState.COMPLETE, 0.9, 0.003, {0: 0.8, 1: 0.9}),
    ]:
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params={"optimizer.lr": params},
                distributions=lr,
                intermediate_values=reported,
            )
        )
    sweeper = ["hparams_search.trial=3", "hparams_search.storage='sqlite:///x'"]
    _trial_folder(tmp_path, 3, 0.003, {"best/val/loss": 0.9}, extra=sweeper)
    _trial_folder(tmp_path, 0, 0.01, {"best/val/loss": 0.7})
    (tmp_path / "1").mkdir()  # a failed trial may leave a folder that holds no run

    sweep = read_sweep(tmp_path)
    assert (sweep.kind, sweep.mode) == ("optuna", "max")  # the study's direction decides
    rows = [(t.number, t.state, t.value, t.changes) for t in sweep.trials]
    assert rows == [
        (3, "COMPLETE", 0.9, ["optimizer.lr=0.003"]),
        (0, "COMPLETE", 0.7, ["optimizer.lr=0.01"]),
        (1, "PRUNED", 0.2, ["optimizer.lr=0.05"]),  # its last reported value
        (2, "FAIL", None, ["optimizer.lr=0.09"]),
    ]
    assert sweep.best.number == 3
    assert "hparams_search" not in " ".join(sweep.shared)  # the sweeper's own overrides
    assert "A pruned trial shows the last value it reported." in sweep_summary(sweep).notes


def test_an_optuna_sweep_with_its_study_elsewhere_takes_the_states_its_trials_recorded(tmp_path):
    _trial_folder(tmp_path, 0, 0.1, {"best/val/loss": 0.5, "trial_state": "PRUNED"})
    _trial_folder(tmp_path, 1, 0.01, {"best/val/loss": 0.3, "trial_state": "COMPLETE"})
    sweep = read_sweep(tmp_path)
    assert sweep.kind == "optuna"
    assert [(t.number, t.state) for t in sweep.trials] == [(1, "COMPLETE"), (0, "PRUNED")]


def test_a_sweep_where_no_trial_completed_has_no_best(tmp_path):
    _trial_folder(tmp_path, 0, 0.1, None)
    summary = sweep_summary(read_sweep(tmp_path))
    assert "No trial completed." in summary.notes
    assert all(row[0] == "" for row in summary.tables[0].rows)
