"""`tuneforge train` with no overrides: the default experiment, its run folder, its logs."""

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from .conftest import read_metrics

pytestmark = pytest.mark.slow


def test_default_experiment_reaches_its_accuracy(default_run):
    metrics = read_metrics(default_run)
    assert metrics["test/acc"] >= 0.97
    assert metrics["monitor"] == "val/acc"
    assert metrics["best/val/acc"] >= 0.95
    assert metrics["epochs"] == 20 and metrics["steps"] == 20 * 20
    assert metrics["seed"] == 42
    assert 0 < metrics["wall_seconds"] < 600


def test_metrics_json_is_flat_and_records_the_code(default_run):
    metrics = read_metrics(default_run)
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())
    for key in ("test/loss", "test/f1", "versions/torch", "versions/lightning", "git_commit"):
        assert key in metrics
    assert (
        metrics["versions/torch"] == torch.__version__.split("+")[0]
        or metrics["versions/torch"] == torch.__version__
    )
    assert metrics["versions/tuneforge"] == "0.1.0"


def test_run_folder_holds_config_log_and_checkpoints(default_run):
    for name in ("config.yaml", "overrides.yaml", "hydra.yaml"):
        assert (default_run / ".hydra" / name).is_file()
    config = yaml.safe_load((default_run / ".hydra" / "config.yaml").read_text())
    assert config["model"]["_target_"] == "tuneforge.models.CNN"
    assert "Finished in" in (default_run / "train.log").read_text()
    assert (default_run / "checkpoints" / "last.ckpt").is_file()
    assert read_metrics(default_run)["best_checkpoint"] == "checkpoints/best.ckpt"


def test_checkpoint_is_plain_data_with_the_resolved_config(default_run):
    checkpoint = torch.load(
        default_run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    config = checkpoint["tuneforge"]["config"]
    assert config["paths"]["output_dir"] == str(default_run)
    assert config["callbacks"]["model_checkpoint"]["monitor"] == "val/acc"


def test_tensorboard_events_read_back(default_run):
    events = EventAccumulator(str(default_run / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "val/loss", "val/acc", "test/acc"} <= scalars
    assert any(tag.startswith("lr-") for tag in scalars)
    losses = [e.value for e in events.Scalars("train/loss")]
    assert losses[-1] < losses[0] / 5
    lrs = [e.value for e in events.Scalars("lr-AdamW/decay")]
    assert max(lrs) == pytest.approx(3e-3, rel=0.01) and lrs[-1] < 1e-4  # warmup, cosine decay
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
