"""What a sweep shows when it ends: a table of its trials, and the best trial's params as YAML."""

import math
from pathlib import Path
from typing import Any

import yaml

from tuneforge.sweeps.search_space import as_override
from tuneforge.sweeps.workers import RETRY_OF


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def trials_table(study: Any, metric: str) -> Any:
    """A Rich table of the study's trials: state, the objective, each param, seconds taken."""
    from optuna.trial import TrialState
    from rich.table import Table

    trials = study.get_trials(deepcopy=False)
    keys = list(dict.fromkeys(key for trial in trials for key in trial.params))
    best = _best(study)
    reruns = {t.user_attrs[RETRY_OF]: t.number for t in trials if RETRY_OF in t.user_attrs}
    table = Table(title=f"Study {study.study_name}: {metric} ({study.direction.name.lower()})")
    for column in ["trial", "state", metric, *keys, "seconds"]:
        table.add_column(column, justify="left" if column == "state" else "right")
    for trial in trials:
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        seconds = trial.duration.total_seconds() if trial.duration else None
        table.add_row(
            str(trial.number),
            trial.state.name
            + (f", rerun as {reruns[trial.number]}" if trial.number in reruns else ""),
            "" if value is None else _number(value),
            *(_number(trial.params[key]) if key in trial.params else "" for key in keys),
            "" if seconds is None else f"{seconds:.1f}",
            style="bold green" if best is not None and trial.number == best.number else None,
        )
    return table


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no trial has completed
        return None


def write_best(study: Any, metric: str, path: Path, command: list[str]) -> dict | None:
    """Write the best trial's params to `path` with the command that trains it alone; return
    what was written, or None when no trial completed."""
    best = _best(study)
    if best is None:
        return None
    overrides = [as_override(key, value) for key, value in best.params.items()]
    written = {
        "study": study.study_name,
        "metric": metric,
        "direction": study.direction.name.lower(),
        "trial": best.number,
        "value": best.value,
        "params": dict(best.params),
        "command": " ".join([*command, *overrides]),
    }
    path.write_text(
        f"# The best trial of study {study.study_name}: {metric}={_number(best.value)}. "
        "`command` trains it alone.\n" + yaml.safe_dump(written, sort_keys=False, width=1000)
    )
    return written
