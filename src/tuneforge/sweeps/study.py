"""The Optuna study of a sweep: its storage, sampler and pruner, and how workers share it.

A study lives in an RDB storage, so a sweep outlives its process: re-running the command finds
the trials already run and goes on. Several workers (processes, machines, cluster jobs) can run
one study at once through a shared database; each counts the study's trials and asks for new
ones while holding a lock, so that together they run exactly `n_trials`.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tuneforge.cli.errors import ConfigError

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "none")
DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
# A trial run again after its worker stopped carries the number of the trial it replaces.
RETRY_OF = "retry_of"
WORKER = "worker"


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """`storage`, or by default an SQLite file in the sweep folder (an absolute path, so that
    trials started elsewhere find it)."""
    if storage:
        return storage
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"


def direction(value: str) -> str:
    if value not in DIRECTIONS:
        raise ConfigError(
            f"hparams_search.direction={value!r} is not valid; choose maximize or minimize "
            "(max and min work too)"
        )
    return DIRECTIONS[value]


def make_sampler(name: str, seed: int | None, grid: Any) -> Any:
    """Optuna's sampler called `name`, seeded; `grid()` gives the grid sampler its values."""
    import importlib.util

    import optuna

    if name == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise ConfigError(
            "hparams_search.sampler=cmaes needs the cmaes package: pip install cmaes "
            "(or choose sampler=tpe)"
        )
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "grid": lambda: optuna.samplers.GridSampler(grid(), seed=seed),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed),
    }
    if name not in samplers:
        raise ConfigError(
            f"hparams_search.sampler={name!r} is not a sampler; choose one of: "
            f"{', '.join(SAMPLERS)}"
        )
    return samplers[name]()


def make_pruner(name: str, warmup: int, startup_trials: int) -> Any:
    """Optuna's median pruner, or none. Steps are validations, counted from 0."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup)
    raise ConfigError(
        f"hparams_search.pruner={name!r} is not a pruner; choose one of: {', '.join(PRUNERS)}"
    )


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


def _storage(url: str) -> Any:
    """Optuna's RDB storage at `url`, or a ConfigError naming what is wrong with it."""
    import optuna

    try:
        return optuna.storages.RDBStorage(url)
    except ImportError as ex:
        raise ConfigError(
            f"hparams_search.storage={url}: {ex}; install the database driver "
            "(PostgreSQL: pip install 'tuneforge[postgres]')"
        ) from ex
    except Exception as ex:  # SQLAlchemy's errors: bad URL, server down, wrong password
        first = str(ex).strip().splitlines()[0]
        raise ConfigError(
            f"hparams_search.storage: cannot open {url} ({first}); check the URL and that the "
            "database server runs"
        ) from ex


def open_study(
    url: str, name: str, wanted: str, sampler: Any, pruner: Any, setup: dict[str, Any]
) -> Any:
    """Create the study, or load it to go on with it.

    `setup` (the search space and the overrides every trial gets) is stored with a new study and
    compared with a loaded one's, so that trials run under different settings never mix.

    Raises:
        ConfigError: when an existing study was run with another direction or setup.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(url)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=wanted,
        load_if_exists=True,
    )
    if study.direction.name.lower() != wanted:
        raise ConfigError(
            f"study {name!r} in {url} minimizes/maximizes the other way "
            f"({study.direction.name.lower()}); set hparams_search.direction to match, or name "
            "a new study: hparams_search.study_name=NAME"
        )
    before = study.user_attrs.get("setup")
    if before is None:
        study.set_user_attr("setup", setup)
    elif before != setup:
        changes = "; ".join(_changes(before, setup))
        raise ConfigError(
            f"study {name!r} in {url} ran with other settings ({changes}); repeat them to go on "
            "with it, or name a new study: hparams_search.study_name=NAME"
        )
    return study


def _changes(before: dict, now: dict, prefix: str = "") -> list[str]:
    """What differs between two setups, as `was -> now` for each key, list items by item."""
    changes = []
    for key in sorted(before.keys() | now.keys()):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changes += _changes(old, new, f"{prefix}{key}.")
        elif isinstance(old, list) and isinstance(new, list):
            gone = " ".join(x for x in old if x not in new) or "nothing"
            added = " ".join(x for x in new if x not in old) or "nothing"
            changes.append(f"{gone} -> {added}")
        else:
            changes.append(f"{prefix}{key}: {old} -> {new}")
    return changes


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
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return started != "?" and _started(int(pid)) not in (started, "?")


def retry_interrupted(study: Any) -> None:
    """Fail the running trials whose worker on this machine has stopped, and queue each one's
    params to run again, so a killed sweep resumes where it was."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _stopped(trial.user_attrs.get(WORKER)):
            interrupted(study, trial.number, trial.params)


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


def trial_callback(search: Any, metric: str) -> Any:
    """The callback that reports a trial's validations to its study, from the trial's
    `hparams_search` settings (the storage and trial number the sweeper passed it)."""
    from tuneforge.callbacks import TrialPruning

    pruner = make_pruner(search.pruner, search.pruner_warmup, search.pruner_startup_trials)
    return TrialPruning(search.storage, search.study_name, search.trial, metric, pruner)
