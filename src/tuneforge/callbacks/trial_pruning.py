"""Report each validation's monitored metric to an Optuna trial; stop the trial early when the
study's pruner gives up on it, or when the metric is no longer a number."""

import logging
import math
from typing import Any

import lightning as L

from tuneforge.callbacks._base import Callback

log = logging.getLogger(__name__)


class TrialPruning(Callback):
    """Reports `metric` after each validation to trial `number` of the study, which it opens
    through the study's database, so the trial may run in any process or on any machine. When the
    pruner says so, training stops cleanly: the run keeps its folder and checkpoints, and
    `state` says PRUNED (FAIL when the metric became NaN or infinite) for metrics.json.

    Steps are validations, counted from 0, so trials compare at the same point of training.

    Args:
        storage: the study's database URL (sqlite:///..., postgresql://...).
        study_name: the study's name in that database.
        number: the trial's number in the study.
        metric: the monitored metric, e.g. `val/acc`.
        pruner: the study's Optuna pruner (a study keeps no pruner in its database, so each
            process that asks whether to prune brings its own).
    """

    def __init__(
        self, storage: str, study_name: str, number: int, metric: str, pruner: Any
    ) -> None:
        self.storage = storage
        self.study_name = study_name
        self.number = number
        self.metric = metric
        self.pruner = pruner
        self.state = "COMPLETE"
        self.note = ""
        self._trial: Any = None
        self._validations = 0

    def _open_trial(self) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = optuna.storages.RDBStorage(self.storage)
        study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=self.pruner)
        study_id = storage.get_study_id_from_name(self.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
        return optuna.trial.Trial(study, trial_id)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._trial = self._open_trial()

    def _decide(self, value: float, step: int) -> tuple[str, str] | None:
        if not math.isfinite(value):
            return "FAIL", f"{self.metric} was {value} at validation {step}"
        self._trial.report(value, step)
        if self._trial.should_prune():
            return "PRUNED", f"pruned at validation {step} with {self.metric}={value:.4g}"
        return None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        step, self._validations = self._validations, self._validations + 1
        stop = None
        if trainer.is_global_zero and self.metric in trainer.callback_metrics:
            stop = self._decide(float(trainer.callback_metrics[self.metric]), step)
        stop = trainer.strategy.broadcast(stop, src=0)  # every rank stops together
        if stop is not None:
            self.state, self.note = stop
            trainer.should_stop = True
            log.info("Trial %d stops: %s", self.number, self.note)

    def summary(self) -> dict[str, Any]:
        """The trial's number and how it ended, for metrics.json."""
        summary: dict[str, Any] = {"trial": self.number, "trial_state": self.state}
        if self.note:
            summary["trial_note"] = self.note
        return summary
