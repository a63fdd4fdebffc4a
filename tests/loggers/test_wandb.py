"""logger=wandb: an offline W&B run in the run folder, read back with wandb's own reader of its
.wandb log (`wandb leet inspect`), as `wandb sync` would upload it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import run_tuneforge
from . import QUICK

pytestmark = pytest.mark.slow

WANDB = Path(sys.executable).parent / "wandb"


def _inspect(offline_run: Path, *flags: str) -> str:
    result = subprocess.run(
        [str(WANDB), "leet", "inspect", str(offline_run), "--json", *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_offline_run_in_the_run_folder_holds_the_config_every_metric_and_the_final_ones(
    tmp_path,
):
    run_dir = tmp_path / "run"
    result = run_tuneforge(
        "train",
        *QUICK,
        "logger=wandb",
        "optimizer.lr=0.005",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        env={"WANDB_CONFIG_DIR": str(tmp_path / "config"), "WANDB_CACHE_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (offline_run,) = (run_dir / "wandb").glob("offline-run-*")
    metrics = json.loads((run_dir / "metrics.json").read_text())

    run = json.loads(_inspect(offline_run, "--summary"))
    assert run["state"] == "finished" and run["exit_code"] == 0
    assert run["config"]["optimizer"]["lr"] == 0.005  # the resolved config, nested
    assert run["config"]["paths"]["output_dir"] == str(run_dir)
    for key in ("test/acc", "best/val/acc", "best/epoch"):
        assert run["summary"][key] == pytest.approx(metrics[key])

    records = [json.loads(line) for line in _inspect(offline_run).splitlines()]
    history = [r["history"]["item"] for r in records if r["type"] == "history"]
    losses = [
        (item["trainer/global_step"], item["train/loss"])
        for item in history
        if "train/loss" in item
    ]
    assert [step for step, _ in losses] == [0, 1, 2]  # one epoch of three steps, each logged
