"""A run folder read back without training: its parameter count from a checkpoint when
metrics.json lacks it (its best, else its last, read safely), and the monitored metric's best
value when it logged no curves."""

import json

import pytest
import torch
import yaml

from tuneforge.checkpoint_format import NotLoaded
from tuneforge.reporting.markdown import to_markdown
from tuneforge.reporting.run_folder import read_run
from tuneforge.reporting.summary import run_summary


def test_a_run_without_tensorboard_is_reported_from_metrics_json_and_its_checkpoint(tmp_path):
    (tmp_path / ".hydra").mkdir()
    config = {"monitor": {"metric": "val/acc", "mode": "max"}, "model": {"_target_": "x.MLP"}}
    (tmp_path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["logger=none"]))
    (tmp_path / "checkpoints").mkdir()
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state = {f"model.{name}": tensor for name, tensor in model.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "checkpoints" / "epoch=1-step=8.ckpt")
    metrics = {
        "best/val/acc": 0.75,
        "best/epoch": 1,
        "best_checkpoint": "checkpoints/epoch=1-step=8.ckpt",
        "test/acc": 0.5,
        "wall_seconds": 3.0,
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))

    run = read_run(tmp_path)
    # weights and biases, not BatchNorm's running statistics
    assert run.parameter_count() == sum(p.numel() for p in model.parameters()) == 4 * 3 + 3 + 6
    markdown = to_markdown(run_summary(run))
    assert "| parameters | 21 |" in markdown
    assert "| val/acc |  | 0.75 (epoch 1) |" in markdown
    assert "| test/acc | 0.5 |  |" in markdown
    assert "| model | MLP |" in markdown
    assert "| overrides | logger=none |" in markdown
    assert "did not finish" not in markdown


def _killed_run(tmp_path, checkpoint: bytes | None = None):
    """A run folder without metrics.json (killed before the end), with a last.ckpt of a Linear
    layer, or of `checkpoint`'s bytes."""
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    state = {f"model.{name}": tensor for name, tensor in torch.nn.Linear(4, 3).state_dict().items()}
    torch.save({"state_dict": state}, last)
    if checkpoint is not None:
        last.write_bytes(checkpoint)
    return read_run(tmp_path), last


def test_a_run_killed_before_metrics_json_is_counted_from_its_last_checkpoint(tmp_path):
    run, _ = _killed_run(tmp_path)
    assert run.metrics is None
    assert run.parameter_count() == 4 * 3 + 3


def test_a_damaged_checkpoint_is_a_value_error_naming_it(tmp_path):
    run, last = _killed_run(tmp_path, checkpoint=b"not a checkpoint")
    with pytest.raises(NotLoaded) as raised:
        run.parameter_count()
    assert isinstance(raised.value, ValueError)
    assert str(raised.value).startswith(f"'{last}' is not a readable checkpoint")
