"""The Optuna study of a sweep: its storage, sampler and pruner.

A study lives in an RDB storage, so a sweep outlives its process: re-running the command finds
the trials already run and goes on (`workers` says how several workers share one).
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.errors import ConfigError

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "none")
DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
HEARTBEAT_SECONDS = 60


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


def make_sampler(
    name: str, seed: int | None, grid: Callable[[], dict[str, list[Any]]]
) -> "optuna.samplers.BaseSampler":
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


def make_pruner(name: str, warmup: int, startup_trials: int) -> "optuna.pruners.BasePruner":
    """Optuna's median pruner, or none. Steps are validations, counted from 0."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup)
    raise ConfigError(
        f"hparams_search.pruner={name!r} is not a pruner; choose one of: {', '.join(PRUNERS)}"
    )


def connect(url: str, heartbeat: int = HEARTBEAT_SECONDS) -> "optuna.storages.RDBStorage":
    """Optuna's RDB storage at `url`, or a ConfigError naming what is wrong with it.

    Trials record a heartbeat every `heartbeat` seconds while their job runs (see
    `workers.heartbeats`); a running trial silent for twice that long lost its worker, and runs
    again.
    """
    import warnings

    import optuna

    from tuneforge.sweeps.workers import rerun_stale

    # Optuna calls heartbeats experimental, and meant for study.optimize(); the sweep records
    # them itself, for the trials it asked for.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    try:
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=heartbeat, heartbeat_stale_trial_callback=rerun_stale
        )
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
    storage: "optuna.storages.RDBStorage",
    name: str,
    wanted: str,
    pruner: "optuna.pruners.BasePruner",
    setup: dict[str, Any],
) -> "optuna.Study":
    """Create the study, or load it to go on with it.

    `setup` (the search space and the overrides every trial gets) is stored with a new study and
    compared with a loaded one's, so that trials run under different settings never mix.

    Raises:
        ConfigError: when an existing study was run with another direction or setup.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = shown(storage.url)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
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


def shown(url: str) -> str:
    """`url` without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
