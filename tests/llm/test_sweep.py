"""An Optuna sweep over LoRA's rank and learning rate, on a tiny Llama: each trial a run of its
own that trains a different adapter, and the sweep's report ranks them by val/loss."""

import json

import pytest
import torch

from ..conftest import run_tuneforge

pytestmark = pytest.mark.slow


def test_a_sweep_over_lora_rank_and_lr_runs_its_trials(llama_folder, chats, tmp_path):
    sweep = run_tuneforge(
        "train",
        "hparams_search=lora_sft",
        "hparams_search.n_trials=2",
        "finetune.lora_rank=choice(2,4)",
        "optimizer.lr=0.001",
        "hparams_search.sampler=grid",
        "data=chat",
        f"data.path={chats}",
        f"model.path={llama_folder}",
        "data.val_fraction=0.4",
        "trainer.max_epochs=1",
        "test=false",
        "callbacks.progress_bar.refresh_rate=0",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    sweep_dir = tmp_path / "multirun" / "train" / "lora_sft"
    trials = sorted(p for p in sweep_dir.iterdir() if (p / "metrics.json").is_file())
    assert len(trials) == 2
    ranks = set()
    for trial in trials:
        metrics = json.loads((trial / "metrics.json").read_text())
        assert metrics["best/val/loss"] > 0
        state = torch.load(trial / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        (a,) = [
            v
            for k, v in state.items()
            if k.endswith("layers.0.self_attn.q_proj.lora_A.default.weight")
        ]
        ranks.add(a.shape[0])
    assert ranks == {2, 4}
    report = run_tuneforge("report", str(sweep_dir), cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert "2 trials (Optuna sweeper), val/loss (minimize), best first." in report.stdout
