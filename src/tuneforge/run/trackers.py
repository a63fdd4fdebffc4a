"""What a training run sends to its experiment trackers (logger=mlflow, logger=wandb) beyond the
metrics that Lightning logs to them as they come: the resolved config before training, and once
the run has ended and drawn plots/, its final metrics (and for MLflow its files, see
run/mlflow_run.py). TensorBoard gets the config with the final metrics (cli/train.py), for its
HParams view. The first process of a distributed run sends; the others hold no tracker run.
"""

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

from tuneforge.run import mlflow_run

log = logging.getLogger(__name__)


class Trackers:
    """The trackers of the run in `run_dir`, as a context around the run: `start` once its
    loggers are built, `finish` once it has ended. On leaving, each W&B run is finished (failed
    where the run raised), so that the next run in this process, a sweep's next trial, starts
    its own instead of logging into this one."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.loggers: list[Any] = []

    def __enter__(self) -> "Trackers":
        return self

    def start(self, trainer: Any, config: dict[str, Any]) -> None:
        """Send the resolved `config` to each tracker among `trainer`'s loggers."""
        from lightning.pytorch.loggers import MLFlowLogger, WandbLogger

        if not trainer.is_global_zero:
            return
        trackers = (MLFlowLogger, WandbLogger)
        self.loggers = [lg for lg in trainer.loggers if isinstance(lg, trackers)]
        for logger in self.loggers:
            if isinstance(logger, MLFlowLogger):
                mlflow_run.start(logger, self.run_dir, config)
            else:
                logger.log_hyperparams(config)

    def finish(self, metrics: dict[str, Any]) -> None:
        """Send what the run left (metrics.json's `metrics`, plots/, the best checkpoint); a
        tracker that cannot take them is one warning line, never the run's failure: its folder
        holds them all."""
        from lightning.pytorch.loggers import MLFlowLogger

        for logger in self.loggers:
            try:
                if isinstance(logger, MLFlowLogger):
                    mlflow_run.finish(logger, self.run_dir, metrics)
                else:
                    final = {k: v for k, v in metrics.items() if k.startswith(("test/", "best/"))}
                    logger.experiment.summary.update(final)
            except Exception as ex:
                first = next((line for line in str(ex).splitlines() if line.strip()), "")
                log.warning(
                    "%s: the run's final metrics and files not sent (%s: %s); they are in %s",
                    type(logger).__name__,
                    type(ex).__name__,
                    first,
                    self.run_dir,
                )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        from lightning.pytorch.loggers import WandbLogger

        for logger in self.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.finish(exit_code=0 if kind is None else 1)
