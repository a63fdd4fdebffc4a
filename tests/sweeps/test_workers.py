"""Workers sharing a study: a lock while they ask for trials, and trials whose worker stopped
(its process gone, or its heartbeat silent) run again, counted once."""

import sqlite3
from pathlib import Path

from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from tuneforge.sweeps import study, workers

from .test_study import open_at

DIST = {"lr": FloatDistribution(0.1, 1.0)}


def _age_heartbeat(database: Path, trial_id: int, seconds: int) -> None:
    """Move a trial's last heartbeat `seconds` into the past, as if its worker fell silent."""
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, ?) WHERE trial_id = ?",
            (f"-{seconds} seconds", trial_id),
        )


def test_a_trial_whose_worker_stopped_runs_again_and_counts_once(tmp_path):
    s = open_at(tmp_path)
    done = s.ask(DIST)
    s.tell(done, 0.5)
    dead = s.ask(DIST)
    dead.set_user_attr(workers.WORKER, f"{workers.this_worker().split(':')[0]}:999999999:1")
    alive = s.ask(DIST)
    alive.set_user_attr(workers.WORKER, workers.this_worker())
    assert workers.slots(s, 4) == 1

    workers.retry_interrupted(s)
    states = {t.number: t.state for t in s.get_trials()}
    assert states == {
        0: TrialState.COMPLETE,
        1: TrialState.FAIL,
        2: TrialState.RUNNING,
        3: TrialState.WAITING,  # trial 1's params, queued to run again
    }
    assert workers.slots(s, 4) == 2  # trial 1 is not counted: its retry, queued, will be
    retry = s.ask(DIST)  # the queued retry comes first, with trial 1's params
    assert retry.params == dead.params and retry.user_attrs[workers.RETRY_OF] == 1
    assert workers.slots(s, 4) == 1


def test_the_sqlite_lock_is_a_file_beside_the_database(tmp_path):
    url = study.storage_url(None, tmp_path)
    with workers.study_lock(url, "s"):
        assert (tmp_path / "optuna.db.lock").is_file()


def test_a_trial_whose_heartbeat_fell_silent_runs_again(tmp_path):
    s = open_at(tmp_path, heartbeat=1)
    storage = study.connect(study.storage_url(None, tmp_path), heartbeat=1)
    silent, beating = s.ask(DIST), s.ask(DIST)
    for trial in (silent, beating):
        trial.set_user_attr(workers.WORKER, "elsewhere:1:1")  # another machine's worker
    with workers.heartbeats(storage, "s", [silent.number]):
        pass  # one heartbeat, then silence
    _age_heartbeat(tmp_path / "optuna.db", silent._trial_id, seconds=10)  # five intervals ago
    with workers.heartbeats(storage, "s", [beating.number]):
        workers.retry_interrupted(s)
    states = {t.number: t.state for t in s.get_trials()}
    assert states == {0: TrialState.FAIL, 1: TrialState.RUNNING, 2: TrialState.WAITING}
    assert s.trials[2].user_attrs == {workers.RETRY_OF: 0}
