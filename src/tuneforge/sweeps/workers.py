"""Workers that share a study: processes, machines or cluster jobs running the same sweep.

Each counts the study's trials and asks for new ones while holding a lock, so that together
they run exactly `n_trials`. A trial whose worker stopped (killed, its machine gone) is failed
and its params queued to run again: at once when the worker ran on this machine and its process
is gone, otherwise once its heartbeat has been silent for two heartbeat intervals.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneforge.processes import alive

log = logging.getLogger(__name__)

# A trial run again after its worker stopped carries the number of the trial it replaces.
RETRY_OF = "retry_of"
WORKER = "worker"


@contextlib.contextmanager
def study_lock(url: str, study_name: str) -> Iterator[None]:
    """Held while a worker counts a study's trials and asks for new ones.

    SQLite: a lock file beside the database (workers on this machine). PostgreSQL: an advisory
    lock in the database (workers anywhere). Other databases get no lock: workers that start
    together may then run a few trials more than n_trials.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        with open(f"{parsed.database}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    elif parsed.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"tuneforge:{study_name}".encode()).digest()[:8])
        key -= 1 << 63  # a signed 64-bit key
        engine = create_engine(parsed, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            engine.dispose()
    else:
        yield


def this_worker() -> str:
    """host:pid:start, where start (the process's start time) tells a reused pid apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{_started(os.getpid())}"


def _started(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def _stopped(worker: str | None) -> bool:
    """Whether `worker` ran on this machine and has stopped (killed, or its machine restarted)."""
    if not worker or worker.count(":") != 2:
        return False
    host, pid, started = worker.split(":")
    if host != socket.gethostname():
        return False
    if not pid.isdigit():
        return False
    if not alive(int(pid)):
        return True
    return started != "?" and _started(int(pid)) not in (started, "?")


def retry_interrupted(study: Any) -> None:
    """Fail the running trials whose worker stopped, and queue each one's params to run again,
    so a killed sweep resumes where it was: a worker of this machine whose process is gone, or
    any worker whose heartbeat fell silent."""
    import optuna
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _stopped(trial.user_attrs.get(WORKER)):
            interrupted(study, trial.number, trial.params)
    optuna.storages.fail_stale_trials(study)  # calls rerun_stale for each


def interrupted(study: Any, number: int, params: dict[str, Any]) -> None:
    """Mark trial `number` failed, and queue its params to run again as a new trial."""
    from optuna.trial import TrialState

    study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
    study.enqueue_trial(params, user_attrs={RETRY_OF: number})
    log.warning("Trial %d was interrupted: it runs again as a new trial", number)


def slots(study: Any, n_trials: int) -> int:
    """Trials still to ask for: n_trials less those finished or running, not counting a trial
    that was interrupted and queued again (its retry counts instead)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF) for t in trials}
    counted = [t for t in trials if t.state != TrialState.WAITING and t.number not in retried]
    return n_trials - len(counted)


def rerun_stale(study: Any, trial: Any) -> None:
    """Optuna's callback for a running trial whose heartbeat fell silent (Optuna failed it)."""
    study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
    log.warning("Trial %d lost its worker: it runs again as a new trial", trial.number)


@contextlib.contextmanager
def heartbeats(storage: Any, study_name: str, numbers: list[int]) -> Iterator[None]:
    """Record the heartbeat of trials `numbers` while their jobs run, so that other workers can
    tell them from trials whose worker is gone."""
    study_id = storage.get_study_id_from_name(study_name)
    ids = [storage.get_trial_id_from_study_id_trial_number(study_id, n) for n in numbers]
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                for trial_id in ids:
                    storage.record_heartbeat(trial_id)
            except Exception as ex:  # the database is away for a moment: try again later
                log.warning("Cannot record the trials' heartbeat: %s", str(ex).splitlines()[0])
            stop.wait(storage.get_heartbeat_interval())

    thread = threading.Thread(target=beat, name="trial-heartbeats", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
