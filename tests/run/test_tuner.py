"""tune=lr|batch_size: Lightning's finders run before training, the run trains with what they
found, logs it, and the checkpoint's config says it."""

import logging

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tuneforge.cli import train
from tuneforge.run.checkpoints import read_checkpoint, stored_config

from ..conftest import compose_config

pytestmark = pytest.mark.slow

# A short run of the small MLP: the LR range test takes as many steps as the run (max_steps).
QUICK = [
    "model=mlp",
    "model.width=32",
    "test=false",  # the best checkpoint, saved at the validation, says what trained
    "trainer.max_steps=20",
    "trainer.max_epochs=1",
    "callbacks.progress_bar.refresh_rate=0",
]


def _trained(tmp_path, *overrides: str):
    run_dir = tmp_path / "run"
    metrics = train.run(compose_config("train", [*QUICK, *overrides]), run_dir)
    return run_dir, metrics, stored_config(read_checkpoint(run_dir / metrics["best_checkpoint"]))


def _logged(run_dir, tag: str) -> float:
    # Not purged: event files of an in-process run are numbered by a counter of the test process,
    # and past 9 an empty first file sorts after the one with the data (".10" < ".9").
    events = EventAccumulator(str(run_dir / "tensorboard"), purge_orphaned_data=False)
    (event,) = events.Reload().Scalars(tag)
    return event.value


def test_tune_lr_trains_with_the_rate_the_range_test_found(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="tuneforge"):
        run_dir, metrics, config = _trained(tmp_path, "tune=lr")
    found = config.optimizer.lr
    assert found != compose_config().optimizer.lr
    # Searched two decades either side of the configured 3e-3.
    assert 3e-5 <= found <= 0.3
    assert _logged(run_dir, "tune/lr") == pytest.approx(found, rel=1e-6)
    assert f"tune=lr found optimizer.lr={found:.4g}" in caplog.text
    assert metrics["steps"] == 20  # the range test's steps are not the run's


def test_tune_batch_size_trains_with_the_largest_batch_that_fits(tmp_path):
    # Memory never runs out on digits: the batch doubles until it holds the whole training set.
    run_dir, metrics, config = _trained(tmp_path, "tune=batch_size", "data.batch_size=1024")
    assert config.data.batch_size == 2048
    assert _logged(run_dir, "tune/batch_size") == 2048
    assert metrics["steps"] == 1  # one epoch of one batch


def test_a_tuned_value_is_a_choice_of_two(tmp_path):
    from tuneforge.errors import ConfigError

    with pytest.raises(ConfigError, match="tune='momentum' is not valid; expected one of"):
        train.run(compose_config("train", ["tune=momentum"]), tmp_path / "run")


def test_a_range_test_too_short_to_suggest_a_rate_says_what_bounds_it(tmp_path):
    from tuneforge.errors import ConfigError

    cfg = compose_config("train", [*QUICK, "tune=lr", "trainer.limit_train_batches=2"])
    with pytest.raises(ConfigError, match="range test found no descent of the loss in its steps"):
        train.run(cfg, tmp_path / "run")
