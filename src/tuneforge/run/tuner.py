"""`tune=batch_size|lr`: Lightning's batch-size or learning-rate finder runs before training, and
the run trains with what it found."""

import functools
import logging
from typing import Any

from tuneforge.errors import ConfigError

log = logging.getLogger(__name__)

# Steps of the learning-rate range test (Lightning's default), fewer where trainer.max_steps is.
LR_TEST_STEPS = 100


def _find_batch_size(tuner: Any, built: Any) -> int:
    """The largest batch that fits, doubling from data.batch_size; set on the DataModule."""
    found = tuner.scale_batch_size(built.task, datamodule=built.datamodule, mode="power")
    built.config["data"]["batch_size"] = found
    return found


def _find_lr(tuner: Any, built: Any) -> float:
    """The learning rate of the steepest loss descent in a range test; given to the optimizer."""
    lr = built.task.optimizer_factory.keywords["lr"]
    max_steps = built.trainer.max_steps
    # Two decades either side of the configured rate: from Lightning's 1e-8 up, the first steps'
    # noise often holds the steepest descent, and the suggestion is a rate that barely trains.
    finder = tuner.lr_find(
        built.task,
        datamodule=built.datamodule,
        min_lr=lr / 100,
        max_lr=lr * 100,
        num_training=min(LR_TEST_STEPS, max_steps) if max_steps > 0 else LR_TEST_STEPS,
        update_attr=False,
    )
    found = finder.suggestion() if finder is not None else None
    if found is None:
        raise ConfigError(
            "tune=lr: the range test found no descent of the loss in its steps; give it more "
            "(trainer.max_steps, trainer.max_epochs or trainer.limit_train_batches bound them) "
            "or set optimizer.lr yourself"
        )
    factory = built.task.optimizer_factory  # a partial: tasks read its `lr` keyword
    built.task.optimizer_factory = functools.partial(
        factory.func, *factory.args, **{**factory.keywords, "lr": found}
    )
    built.config["optimizer"]["lr"] = found
    return found


FINDERS = {"batch_size": ("data.batch_size", _find_batch_size), "lr": ("optimizer.lr", _find_lr)}


def tune(built: Any, what: str | None) -> None:
    """Find `what` (batch_size or lr, None: nothing) for `built`, print and log it, and train
    with it: the DataModule or the task takes it, and the config that the checkpoints store says
    it.

    Raises:
        ConfigError: when Lightning cannot tune this run (several devices) or finds nothing.
    """
    if what is None:
        return
    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch.tuner import Tuner

    key, find = FINDERS[what]
    try:
        found = find(Tuner(built.trainer), built)
    except MisconfigurationException as ex:
        raise ConfigError(f"tune={what}: {str(ex).splitlines()[0]}; use trainer.devices=1") from ex
    log.info("tune=%s found %s=%s; training with it", what, key, f"{found:.4g}")
    for logger in built.trainer.loggers:
        logger.log_metrics({f"tune/{what}": float(found)}, step=0)
