"""The sweep: ask the study for trials, launch each as a job through Hydra's launcher, and tell
the study how each ended (complete with its monitored metric's best value, pruned, or failed).

Optuna's ask-and-tell API keeps the loop here, so trials run through whatever launcher Hydra is
set to (one after the other, in parallel processes, or as cluster jobs), `n_jobs` at a time.
"""

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.errors import ConfigError
from tuneforge.sweeps import study as studies
from tuneforge.sweeps import workers
from tuneforge.sweeps.search_space import SearchSpace, as_override, parse_search_space, quoted
from tuneforge.sweeps.summary import trials_table, write_best
from tuneforge.trial_keys import STORAGE, TRIAL, TRIAL_KEYS

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """hparams_search.*, as the sweeper receives them (conf/hydra/sweeper/optuna.yaml)."""

    study_name: str | None
    n_trials: int = 20
    n_jobs: int = 1
    direction: str = "maximize"
    storage: str | None = None
    sampler: str = "tpe"
    seed: int | None = None
    pruner: str = "median"
    pruner_warmup: int = 1
    pruner_startup_trials: int = 5
    params: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not self.study_name:
            raise ConfigError(
                "hparams_search.study_name is required; name the study in the hparams_search "
                "file or with hparams_search.study_name=NAME (its trials run in multirun/VERB/NAME)"
            )
        for key in ("n_trials", "n_jobs"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ConfigError(
                    f"hparams_search.{key}={getattr(self, key)!r} is not valid; expected a "
                    "whole number of at least 1"
                )
        studies.direction(self.direction)
        studies.make_pruner(self.pruner, self.pruner_warmup, self.pruner_startup_trials)
        if self.sampler not in studies.SAMPLERS:
            studies.make_sampler(self.sampler, self.seed, dict)  # raises the line that says so


@dataclass
class Sweep:
    """One worker's sweep of a study, its trials launched by `launch(overrides, first_number)`
    (Hydra's launcher) after `check(overrides)` composed one trial's config."""

    settings: Settings
    sweep_dir: Path
    verb: str
    metric: str
    launch: Callable[[list[list[str]], int], Sequence[Any]]
    check: Callable[[list[str]], None]

    def run(self, arguments: list[str]) -> Any:
        """Sweep until the study holds n_trials trials; print them; return the study."""
        settings = self.settings
        settings.check()
        space = parse_search_space(settings.params, arguments)
        if not space.distributions:
            raise ConfigError(
                "hparams_search: nothing to search; add hydra.sweeper.params (or a sweep on the "
                "command line, e.g. 'optimizer.lr=tag(log,interval(1e-4,1e-2))')"
            )
        space.fixed = [f for f in space.fixed if f.split("=", 1)[0].lstrip("+~") not in TRIAL_KEYS]
        self.check(self._overrides(space, _first_values(space), None, ""))
        url = studies.storage_url(settings.storage, self.sweep_dir)
        with workers.study_lock(url, settings.study_name):
            storage = studies.connect(url)
            study = studies.open_study(
                storage,
                settings.study_name,
                studies.direction(settings.direction),
                studies.make_pruner(
                    settings.pruner, settings.pruner_warmup, settings.pruner_startup_trials
                ),
                _setup(space, self.metric),
            )
            # A resumed study's sampler starts from another seed, not to redraw the first trials
            seed = None if settings.seed is None else settings.seed + len(study.trials)
            study.sampler = studies.make_sampler(settings.sampler, seed, space.grid)
        log.info(
            "Study %s in %s: %d trials, %s sampler, %s pruner",
            settings.study_name,
            studies.shown(url),
            settings.n_trials,
            settings.sampler,
            settings.pruner,
        )
        worker = workers.this_worker()
        while True:
            with workers.study_lock(url, settings.study_name):
                workers.retry_interrupted(study)
                trials = []
                for _ in range(min(settings.n_jobs, workers.slots(study, settings.n_trials))):
                    if _grid_done(study):
                        break
                    trials.append(study.ask(space.distributions))
                    trials[-1].set_user_attr(workers.WORKER, worker)
            if not trials:
                break
            numbers = [trial.number for trial in trials]
            with workers.heartbeats(storage, settings.study_name, numbers):
                self._run_batch(study, space, trials, url)
        self._summarize(study, space)
        return study

    def _overrides(self, space: SearchSpace, params: dict, number: int | None, url: str) -> list:
        trial = [] if number is None else [f"{TRIAL}={number}"]
        storage = [f"{STORAGE}={quoted(url)}"] if url else []
        return [*space.fixed, *(as_override(k, v) for k, v in params.items()), *trial, *storage]

    def _run_batch(self, study: Any, space: SearchSpace, trials: list, url: str) -> None:
        from optuna.trial import TrialState

        told: set[int] = set()
        try:
            for group in _consecutive(trials):
                overrides = [self._overrides(space, t.params, t.number, url) for t in group]
                returns = self.launch(overrides, group[0].number)
                for trial, ret in zip(group, returns, strict=True):
                    state, value, note = outcome(ret)
                    _tell(study, trial, state, value)
                    told.add(trial.number)
                    _log_trial(trial, state, value, note, ret)
        except (KeyboardInterrupt, SystemExit):
            for trial in trials:
                if trial.number not in told:
                    workers.interrupted(study, trial.number, trial.params)
            raise
        except BaseException:
            for trial in trials:
                if trial.number not in told:
                    _tell(study, trial, TrialState.FAIL)
            raise

    def _summarize(self, study: Any, space: SearchSpace) -> None:
        from rich.console import Console

        metric = self.metric
        Console().print(trials_table(study, metric))
        command = ["tuneforge", self.verb, *space.fixed, "hydra.mode=RUN"]
        path = self.sweep_dir / "best_params.yaml"
        best = write_best(study, metric, path, command)
        if best is None:
            log.warning("No trial of study %s completed: no best params", study.study_name)
            return
        shown = " ".join(as_override(k, v) for k, v in best["params"].items())
        log.info("Best trial %d: %s=%.6g with %s", best["trial"], metric, best["value"], shown)
        log.info("Best params: %s", path)


def outcome(ret: Any) -> tuple[Any, float | None, str]:
    """How a trial's job ended: its state, its objective, and a note saying why it failed.

    The objective is the best value of the monitored metric that the job returned
    (`best/<monitor>` of its metrics.json); a job that raised, or whose metric never had a
    finite value, failed.
    """
    from hydra.core.utils import JobStatus
    from optuna.trial import TrialState

    result = ret._return_value  # return_value would print the overrides and raise
    if ret.status == JobStatus.FAILED:  # the job raised: Hydra keeps what it raised
        lines = str(result).strip().splitlines()
        return TrialState.FAIL, None, lines[0] if lines else type(result).__name__
    if not isinstance(result, dict) or "monitor" not in result:
        return TrialState.FAIL, None, "the job returned no metrics"
    if result.get("trial_state") == "PRUNED":
        return TrialState.PRUNED, None, ""
    if result.get("trial_state") == "FAIL":
        return TrialState.FAIL, None, str(result.get("trial_note") or "the job said it failed")
    value = result.get(f"best/{result['monitor']}")
    if not isinstance(value, int | float) or not math.isfinite(value):
        return TrialState.FAIL, None, f"{result['monitor']} had no finite value"
    return TrialState.COMPLETE, float(value), ""


def _log_trial(trial: Any, state: Any, value: float | None, note: str, ret: Any) -> None:
    params = " ".join(as_override(k, v) for k, v in trial.params.items())
    result = ret._return_value
    metric = result.get("monitor", "objective") if isinstance(result, dict) else "objective"
    if value is not None:
        log.info("Trial %d %s: %s=%.6g (%s)", trial.number, state.name, metric, value, params)
    else:
        log.warning(
            "Trial %d %s%s (%s)", trial.number, state.name, f": {note}" * bool(note), params
        )


def _tell(study: Any, trial: Any, state: Any, value: float | None = None) -> None:
    from optuna.trial import TrialState

    try:
        study.tell(trial, value if state == TrialState.COMPLETE else None, state)
    except RuntimeError as ex:
        # The grid sampler asks a finished grid to stop study.optimize(), which does not run
        # here; the trial is told all the same.
        if "Study.stop" not in str(ex):
            raise


def _grid_done(study: Any) -> bool:
    """Whether the grid sampler has handed out every combination (other samplers never are)."""
    exhausted = getattr(study.sampler, "is_exhausted", None)
    if exhausted is not None and exhausted(study):
        log.info("Every combination of the grid has run or is running")
        return True
    return False


def _consecutive(trials: list) -> list[list]:
    """Trials split where their numbers jump: each group runs in folders N, N+1, ..."""
    groups: list[list] = []
    for trial in sorted(trials, key=lambda t: t.number):
        if groups and trial.number == groups[-1][-1].number + 1:
            groups[-1].append(trial)
        else:
            groups.append([trial])
    return groups


def _first_values(space: SearchSpace) -> dict[str, Any]:
    """One value of each parameter, to compose a trial's config before the sweep starts."""
    from optuna.distributions import CategoricalDistribution

    return {
        key: dist.choices[0] if isinstance(dist, CategoricalDistribution) else dist.low
        for key, dist in space.distributions.items()
    }


def _setup(space: SearchSpace, metric: str) -> dict[str, Any]:
    """What must not change while a study goes on: the objective, the search space and the
    overrides every trial gets (the sweep's own settings, hparams_search.*, may change)."""
    fixed = [f for f in space.fixed if not f.lstrip("+~").startswith("hparams_search.")]
    return {
        "metric": metric,
        "params": {key: repr(dist) for key, dist in space.distributions.items()},
        "overrides": sorted(fixed),
    }
