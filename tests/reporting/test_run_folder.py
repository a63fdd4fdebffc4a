"""A run folder read back without training: its parameter count from a checkpoint when
metrics.json lacks it, and the monitored metric's best value when it logged no curves."""

import json

import torch
import yaml

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
