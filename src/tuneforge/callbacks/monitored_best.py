"""Track the best value of the monitored metric over validations, with or without checkpoints."""

import math

import lightning as L

from tuneforge.callbacks._base import Callback


class MonitoredBest(Callback):
    """Remembers the best `metric` seen at the end of each validation, and when it was seen.

    Args:
        metric: a logged metric name, e.g. `val/acc`.
        mode: `max` or `min`: which direction is better.
    """

    def __init__(self, metric: str, mode: str) -> None:
        self.metric = metric
        self.mode = mode
        self.value: float | None = None
        self.epoch: int | None = None
        self.step: int | None = None

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.value is None:
            return True
        return value > self.value if self.mode == "max" else value < self.value

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.metric not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.metric])
        if self._better(value):
            self.value, self.epoch, self.step = value, trainer.current_epoch, trainer.global_step

    def state_dict(self) -> dict:
        return {"value": self.value, "epoch": self.epoch, "step": self.step}

    def load_state_dict(self, state_dict: dict) -> None:
        self.value = state_dict["value"]
        self.epoch = state_dict["epoch"]
        self.step = state_dict["step"]
