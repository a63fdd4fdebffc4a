"""`finetune.checkpoint`: a trained run's weights start another run, with a load report."""

import json
import shutil

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ..conftest import run_tuneforge
from .conftest import only_run_dir, read_metrics

pytestmark = pytest.mark.slow

QUICK = ["debug=limit", "callbacks.progress_bar.refresh_rate=0"]


def test_a_run_folder_starts_a_new_run_with_every_weight_loaded(default_run, tmp_path):
    result = run_tuneforge("train", f"finetune.checkpoint={default_run}", *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = only_run_dir(tmp_path, "train")
    report = json.loads((run_dir / "load_report.json").read_text())
    assert report["counts"]["missing"] == report["counts"]["mismatched"] == 0
    assert report["counts"]["matched"] > 10 and not report["head_reset"]
    assert "matched" in result.stdout  # the report's table, printed before training
    # Started from a model at ~0.99, a few batches keep it far above chance.
    assert read_metrics(run_dir)["test/acc"] > 0.9


def test_weights_of_another_architecture_are_reported_not_silently_dropped(default_run, tmp_path):
    # A CNN's weights into an MLP: only the head's bias fits; the run goes on and says so.
    result = run_tuneforge(
        "train", f"finetune.checkpoint={default_run}", "model=mlp", *QUICK, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((only_run_dir(tmp_path, "train") / "load_report.json").read_text())
    assert report["counts"]["matched"] == 1 and report["counts"]["missing"] > 0
    assert report["head_reset"] and "head.fc.weight" in report["head_message"]
    assert "head reset: its head.fc.weight is" in result.stderr  # the summary line, logged


def test_strict_refusal_keeps_the_report(default_run, tmp_path):
    result = run_tuneforge(
        "train",
        f"finetune.checkpoint={default_run}",
        "finetune.strict=true",
        "model.width=16",
        f"hydra.run.dir={tmp_path / 'run'}",
        *QUICK,
        cwd=tmp_path,
    )
    assert result.returncode == 4
    assert result.stderr.strip().splitlines()[-1].startswith("error: finetune.checkpoint:")
    report = json.loads((tmp_path / "run" / "load_report.json").read_text())
    assert report["counts"]["mismatched"] > 0
    assert not list((tmp_path / "run").rglob("*.ckpt"))


def test_linear_probe_changes_the_head_only(default_run, tmp_path):
    pretrained = tmp_path / "pretrained.ckpt"
    shutil.copy(default_run / "checkpoints" / "best.ckpt", pretrained)
    args = ["finetune=linear_probe", f"finetune.checkpoint={pretrained}", "optimizer.lr=0.05"]
    result = run_tuneforge("train", *args, *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Fine-tuning (linear_probe)" in result.stderr
    before = torch.load(default_run / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    run_dir = only_run_dir(tmp_path, "train")
    after = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    changed = {key for key in before if not torch.equal(before[key], after[key])}
    assert changed == {"model.head.fc.weight", "model.head.fc.bias"}  # BatchNorm statistics too
    # eval rebuilds from the fine-tuned checkpoint alone: the pretrained source may be gone
    pretrained.unlink()
    scored = run_tuneforge("eval", f"ckpt_path={run_dir}", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-2000:]
    assert read_metrics(only_run_dir(tmp_path, "eval"))["test/acc"] > 0.9  # the whole test split


def test_layerwise_decay_gives_each_group_its_rate(default_run, tmp_path):
    args = ["finetune=llrd", f"finetune.checkpoint={default_run}", "finetune.lr_decay=0.5"]
    args += ["trainer.log_every_n_steps=1"]
    result = run_tuneforge("train", *args, *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "lr scales 0.25, 0.5, 1" in result.stderr
    events = EventAccumulator(str(only_run_dir(tmp_path, "train") / "tensorboard"))
    events.Reload()
    assert {"lr-AdamW/decay@1", "lr-AdamW/decay@0.25"} <= set(events.Tags()["scalars"])


def test_gradual_unfreeze_moves_the_top_groups_first(default_run, tmp_path):
    # The digits CNN has three groups: blocks.0, blocks.1, the head. Two epochs, one more each.
    args = ["finetune=gradual_unfreeze", f"finetune.checkpoint={default_run}"]
    result = run_tuneforge("train", *args, *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Epoch 1: 2 of 3 layer groups train" in result.stderr
    before = torch.load(default_run / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    run_dir = only_run_dir(tmp_path, "train")
    after = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    changed = {
        key.split(".")[1] + key.split(".")[2]
        for key in before
        if not torch.equal(before[key], after[key])
    }
    assert changed == {"blocks1", "headfc"}
