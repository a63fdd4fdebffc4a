"""A sweep folder read back: one row per trial with what it changed and the metric it reached.

Two kinds: Hydra's basic sweeper leaves numbered run folders (0/, 1/, ...); our Optuna sweeper
leaves them too, with the study in optuna.db, which adds each trial's state (a failed trial may
have no folder at all, a pruned one stopped early).

Each trial keeps the values of the parameters it was given and its monitored metric's curve, as
its run logged it, for the sweep's figures.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.reporting.events import Curve
from tuneforge.reporting.layout import STUDY_DB
from tuneforge.reporting.run_folder import Run, is_run, read_run
from tuneforge.trial_keys import TRIAL_KEYS

# Overrides the Optuna sweeper adds to each trial: where its study is, and its number.
_SWEEPER_KEYS = tuple(f"{key}=" for key in TRIAL_KEYS)


@dataclass
class Trial:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING; a basic sweep's: COMPLETE or UNFINISHED
    value: float | None
    changes: list[str]  # the overrides that set this trial apart from the others
    params: dict[str, Any] = field(default_factory=dict)  # the swept keys' values, by key
    curve: Curve | None = None  # the monitored metric, as its run logged it


@dataclass
class Sweep:
    path: Path
    kind: str  # optuna or basic
    metric: str
    mode: str  # max or min
    trials: list[Trial]  # best first; those without a value last, in trial order
    shared: list[str]  # the overrides every trial has
    study: Any = None  # the Optuna study, where the sweep folder holds it (optuna.db)

    @property
    def best(self) -> Trial | None:
        """The completed trial with the best value, or None when none completed."""
        first = self.trials[0] if self.trials else None
        return first if first and first.state == "COMPLETE" and first.value is not None else None


def is_sweep(path: Path) -> bool:
    return (path / STUDY_DB).is_file() or any(_trial_folders(path))


def _trial_folders(path: Path) -> list[Path]:
    return sorted(
        (p for p in path.iterdir() if p.name.isdigit() and is_run(p)), key=lambda p: int(p.name)
    )


def read_sweep(path: Path) -> Sweep:
    runs = {int(folder.name): read_run(folder) for folder in _trial_folders(path)}
    overrides = {
        number: [o for o in run.overrides if not o.startswith(_SWEEPER_KEYS)]
        for number, run in runs.items()
    }
    first = next(iter(overrides.values()), [])
    shared = [o for o in first if all(o in others for others in overrides.values())]
    metric, mode = next(iter(runs.values())).monitor if runs else ("objective", "max")
    if (path / STUDY_DB).is_file():
        study = _load_study(path / STUDY_DB)
        mode = "max" if study.direction.name == "MAXIMIZE" else "min"
        trials = [_study_trial(trial) for trial in study.get_trials()]
        for trial in trials:
            trial.curve = runs[trial.number].curves.get(metric) if trial.number in runs else None
        return Sweep(path, "optuna", metric, mode, _best_first(trials, mode), shared, study)
    trials = []
    for number, run in runs.items():
        changes = [o for o in overrides[number] if o not in shared]
        params = dict(map(_param, changes))
        value = _run_value(run, metric)
        curve = run.curves.get(metric)
        trials.append(Trial(number, _run_state(run), value, changes, params, curve))
    # An Optuna sweep whose study is in a database elsewhere: its trials record their state.
    optuna = any(run.metrics and "trial_state" in run.metrics for run in runs.values())
    kind = "optuna" if optuna else "basic"
    return Sweep(path, kind, metric, mode, _best_first(trials, mode), shared)


def _run_state(run: Run) -> str:
    """A trial's state from its folder: an Optuna trial's metrics.json records it (a study in a
    database elsewhere than the sweep folder), a basic sweep's run finished or did not."""
    if run.metrics is None:
        return "UNFINISHED"
    return str(run.metrics.get("trial_state", "COMPLETE"))


def _param(override: str) -> tuple[str, Any]:
    """An override's key and its value: a number where it reads as one, else the text."""
    key, _, text = override.partition("=")
    for parse in (int, float):
        try:
            return key.lstrip("+~"), parse(text)
        except ValueError:
            pass
    return key.lstrip("+~"), text


def _run_value(run: Run, metric: str) -> float | None:
    value = (run.metrics or {}).get(f"best/{metric}")
    return float(value) if isinstance(value, (int, float)) else None


def _load_study(database: Path) -> Any:
    """The one study in an Optuna sweep's SQLite file."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=None, storage=f"sqlite:///{database.resolve()}")


def _study_trial(trial: Any) -> Trial:
    """A study's trial: its objective if it completed, its last reported value if it was pruned."""
    state = trial.state.name
    value = trial.value if state == "COMPLETE" else None
    if state == "PRUNED" and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    changes = [f"{key}={param}" for key, param in trial.params.items()]
    return Trial(trial.number, state, value, changes, dict(trial.params))


def _best_first(trials: list[Trial], mode: str) -> list[Trial]:
    """Completed trials best first, then the others with a value (pruned ones), then those
    without, in trial order."""

    def rank(trial: Trial) -> tuple[bool, bool, float, int]:
        unscored = trial.value is None or math.isnan(trial.value)
        score = 0.0 if unscored else (-trial.value if mode == "max" else trial.value)
        return unscored, trial.state != "COMPLETE", score, trial.number

    return sorted(trials, key=rank)
