"""A trial reports each validation to its study through the database, and stops when pruned."""

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from tuneforge.callbacks import TrialPruning
from tuneforge.run.build import build
from tuneforge.sweeps import study as studies

from ..conftest import compose_config
from . import TINY


@pytest.fixture
def trial_run(tmp_path):
    """A study with one finished trial that reached val/acc=0.99 at every validation, a second
    trial asked for, and a tiny training run that is that trial."""
    url = studies.storage_url(None, tmp_path)
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.add_trial(
        create_trial(
            value=0.99,
            params={"lr": 0.1},
            distributions={"lr": FloatDistribution(0.01, 1.0)},
            intermediate_values=dict.fromkeys(range(5), 0.99),
        )
    )
    number = study.ask({"lr": FloatDistribution(0.01, 1.0)}).number
    search = ["hparams_search=digits_cnn", f"hparams_search.trial={number}"]
    search += [f"hparams_search.storage={url}", "hparams_search.study_name=s"]
    search += ["hparams_search.pruner_startup_trials=1", "hparams_search.pruner_warmup=0"]
    cfg = compose_config(
        "train", [*TINY, "trainer.max_epochs=3", *search, f"paths.output_dir={tmp_path}"]
    )
    return study, number, build(cfg, tmp_path)


def the_callback(built) -> TrialPruning:
    (callback,) = [c for c in built.trainer.callbacks if isinstance(c, TrialPruning)]
    return callback


def test_a_trial_worse_than_the_median_stops_at_its_first_validation(trial_run):
    study, number, built = trial_run
    built.trainer.fit(built.task, datamodule=built.datamodule)
    callback = the_callback(built)
    assert callback.state == "PRUNED" and built.trainer.current_epoch == 1
    assert callback.summary() == {
        "trial": number,
        "trial_state": "PRUNED",
        "trial_note": callback.note,
    }
    reported = study.trials[number].intermediate_values
    assert list(reported) == [0] and reported[0] == pytest.approx(built.monitored.value)


def test_a_metric_that_is_no_longer_a_number_fails_the_trial(trial_run):
    study, number, built = trial_run
    callback = the_callback(built)
    callback._trial = callback._open_trial()
    assert callback._decide(0.5, 0) == ("PRUNED", "pruned at validation 0 with val/acc=0.5")
    state, note = callback._decide(math.nan, 1)
    assert state == "FAIL" and note == "val/acc was nan at validation 1"
    assert study.trials[number].intermediate_values == {0: 0.5}  # NaN is not reported
    assert study.trials[number].state == TrialState.RUNNING  # the sweeper tells, not the job
