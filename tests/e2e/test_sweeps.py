"""`tuneforge train -m hparams_search=...`: an Optuna study that resumes, prunes, survives a
failing trial, and ends with a table and the best params; bad sweep settings are one line."""

import json
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from ..conftest import run_tuneforge
from ..sweeps import TINY

pytestmark = pytest.mark.slow


def sweep(cwd: Path, *args: str, epochs: int = 1):
    quick = [*TINY, f"trainer.max_epochs={epochs}", "test=false"]
    return run_tuneforge("train", "-m", "hparams_search=digits_cnn", *quick, *args, cwd=cwd)


def sweep_dir(cwd: Path) -> Path:
    return cwd / "multirun" / "train" / "digits_cnn"


def load(cwd: Path) -> optuna.Study:
    url = f"sqlite:///{sweep_dir(cwd) / 'optuna.db'}"
    return optuna.load_study(study_name="digits_cnn", storage=url)


def trial_metrics(cwd: Path, number: int) -> dict:
    return json.loads((sweep_dir(cwd) / str(number) / "metrics.json").read_text())


def test_rerunning_a_sweep_resumes_its_study_without_repeating_a_trial(tmp_path):
    first = sweep(tmp_path, "hparams_search.n_trials=2")
    assert first.returncode == 0, first.stderr[-3000:]
    finished = {t.number: (t.params, t.datetime_complete) for t in load(tmp_path).trials}
    assert len(finished) == 2

    second = sweep(tmp_path, "hparams_search.n_trials=4")
    assert second.returncode == 0, second.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [(t.number, t.state) for t in trials] == [(n, TrialState.COMPLETE) for n in range(4)]
    assert {t.number: (t.params, t.datetime_complete) for t in trials[:2]} == finished
    assert len({t.params["optimizer.lr"] for t in trials}) == 4
    for trial in trials:
        metrics = trial_metrics(tmp_path, trial.number)
        assert metrics["trial"] == trial.number and metrics["trial_state"] == "COMPLETE"
        assert metrics["best/val/acc"] == trial.value

    best = max(trials, key=lambda t: t.value)
    written = yaml.safe_load((sweep_dir(tmp_path) / "best_params.yaml").read_text())
    assert written["trial"] == best.number and written["value"] == best.value
    assert written["params"] == best.params and "hydra.mode=RUN" in written["command"]
    assert "Study digits_cnn: val/acc (maximize)" in second.stdout
    assert f"Best trial {best.number}: val/acc=" in second.stderr


def test_a_pruned_trial_and_a_failing_one_leave_the_sweep_going(tmp_path):
    # A finished trial that reached val/acc=0.99 at every validation: a tiny run is worse.
    sweep_dir(tmp_path).mkdir(parents=True)
    study = optuna.create_study(
        study_name="digits_cnn",
        storage=f"sqlite:///{sweep_dir(tmp_path) / 'optuna.db'}",
        direction="maximize",
    )
    study.add_trial(
        create_trial(
            value=0.99,
            params={"optimizer.lr": 0.003},
            distributions={"optimizer.lr": FloatDistribution(1e-4, 3e-2, log=True)},
            intermediate_values=dict.fromkeys(range(4), 0.99),
        )
    )
    result = sweep(
        tmp_path,
        "hparams_search.n_trials=3",
        "hparams_search.sampler=grid",
        "optimizer.lr=0.003",
        "model.dropout=choice(0.1,2.0)",  # a dropout of 2 is refused: that trial fails
        "hparams_search.pruner_startup_trials=1",
        "hparams_search.pruner_warmup=0",
        epochs=2,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    states = {t.params["model.dropout"]: t.state for t in load(tmp_path).trials[1:]}
    assert states == {0.1: TrialState.PRUNED, 2.0: TrialState.FAIL}
    pruned = next(t.number for t in load(tmp_path).trials if t.state == TrialState.PRUNED)
    metrics = trial_metrics(tmp_path, pruned)
    assert metrics["trial_state"] == "PRUNED" and metrics["epochs"] == 1
    assert "pruned at validation 0" in metrics["trial_note"]
    assert "FAIL: model.dropout=2.0 is not valid; expected a number in [0, 1)" in result.stderr


MINE = """# @package _global_
defaults:
  - override /hydra/sweeper: optuna
hydra:
  sweeper:
    params:
      optimizer.lr: interval(1e-4,
"""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["hparams_search=digits_cnn", "hparams_search.sampler=bayes"],
            "error: hparams_search.sampler='bayes' is not a sampler; choose one of: "
            "tpe, random, grid, cmaes",
        ),
        (
            ["-m", "--config-dir", "my_conf", "hparams_search=mine"],
            "error: hparams_search.study_name is required; name the study in the hparams_search "
            "file or with hparams_search.study_name=NAME",
        ),
        (
            ["-m", "--config-dir", "my_conf", "hparams_search=mine", "hparams_search.study_name=x"],
            "error: hydra.sweeper.params.optimizer.lr: cannot parse 'interval(1e-4,' (",
        ),
    ],
)
def test_bad_sweep_settings_are_one_line(tmp_path, args, line):
    (tmp_path / "my_conf" / "hparams_search").mkdir(parents=True)
    (tmp_path / "my_conf" / "hparams_search" / "mine.yaml").write_text(MINE)
    # no -m for the first: an hparams_search file makes the run a sweep by itself
    result = run_tuneforge("train", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    (printed,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert printed.startswith(line)
    assert not list((tmp_path / "multirun").glob("train/*/0"))
