"""The study: samplers, pruners, the settings a resumed study must keep, and how a trial's job
outcome becomes its state."""

import math
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from tuneforge.errors import ConfigError
from tuneforge.sweeps import outcome, study
from tuneforge.sweeps.runner import Settings

SETUP = {"metric": "val/acc", "params": {"lr": "..."}, "overrides": ["debug=limit", "seed=1"]}


def open_at(tmp_path: Path, setup=SETUP, direction="maximize", heartbeat=60):
    storage = study.connect(study.storage_url(None, tmp_path), heartbeat)
    return study.open_study(storage, "s", direction, optuna.pruners.NopPruner(), setup)


def test_default_storage_is_sqlite_in_the_sweep_folder(tmp_path):
    url = study.storage_url(None, tmp_path / "sweep")
    assert url == f"sqlite:///{tmp_path}/sweep/optuna.db"
    assert study.storage_url("postgresql://h/db", tmp_path) == "postgresql://h/db"


@pytest.mark.parametrize("name", study.SAMPLERS)
def test_every_sampler_is_built_seeded(name):
    sampler = study.make_sampler(name, 3, lambda: {"x": [1, 2]})
    assert type(sampler).__name__.lower().startswith(name[:3])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sampler": "bayes"}, "hparams_search.sampler='bayes' is not a sampler; choose one of"),
        ({"pruner": "hyperband"}, "hparams_search.pruner='hyperband' is not a pruner"),
        ({"direction": "up"}, "hparams_search.direction='up' is not valid"),
        ({"n_trials": 0}, "hparams_search.n_trials=0 is not valid"),
    ],
)
def test_bad_settings_are_one_line_each(settings, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Settings(study_name="s", **settings).check()
    assert len(caught.value.lines) == 1


def test_cmaes_without_its_package_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "cmaes" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="needs the cmaes package: pip install cmaes"):
        study.make_sampler("cmaes", 0, dict)


def test_a_study_goes_on_only_with_the_same_objective_and_settings(tmp_path):
    open_at(tmp_path)
    assert open_at(tmp_path).user_attrs["setup"] == SETUP
    changed = {**SETUP, "overrides": ["debug=fast", "seed=1"], "params": {"lr": "!"}}
    with pytest.raises(ConfigError, match=r"settings \(debug=limit -> debug=fast; params.lr: "):
        open_at(tmp_path, changed)
    with pytest.raises(ConfigError, match=r"set hparams_search\.direction to match"):
        open_at(tmp_path, direction="minimize")


def job(value=None, raises=None):
    """Hydra's JobReturn of a job that returned `value` or raised `raises`."""
    from hydra.core.utils import JobReturn, JobStatus

    ret = JobReturn()
    ret.status = JobStatus.FAILED if raises else JobStatus.COMPLETED
    ret.return_value = raises or value
    return ret


@pytest.mark.parametrize(
    ("ret", "state", "objective"),
    [
        (job({"monitor": "val/acc", "best/val/acc": 0.9}), TrialState.COMPLETE, 0.9),
        (job({"monitor": "val/acc", "trial_state": "PRUNED"}), TrialState.PRUNED, None),
        (job({"monitor": "val/loss", "best/val/loss": math.nan}), TrialState.FAIL, None),
        (job({"monitor": "val/loss"}), TrialState.FAIL, None),
        (job({"monitor": "val/acc", "trial_state": "FAIL"}), TrialState.FAIL, None),
        (job(raises=RuntimeError("out of memory")), TrialState.FAIL, None),
        (job(SimpleNamespace()), TrialState.FAIL, None),
    ],
)
def test_a_jobs_outcome_is_its_trials_state(ret, state, objective):
    got_state, value, note = outcome(ret)
    assert (got_state, value) == (state, objective)
    if state == TrialState.FAIL:
        assert note
