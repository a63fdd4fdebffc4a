"""`resume=auto` with a config other than the stored run's: refused with the keys that differ,
the folder untouched; with `resume.allow_changes=true` the new values really apply."""

import json

import pytest
import torch

from ..conftest import run_tuneforge
from .conftest import snapshot
from .test_bad_input import assert_one_line_error

pytestmark = pytest.mark.slow

QUICK = ["trainer.limit_train_batches=3", "trainer.limit_val_batches=2", "logger=none"]


def test_changed_keys_are_refused_unless_allowed_and_then_applied(tmp_path):
    run_dir = tmp_path / "run"
    first = run_tuneforge(
        "train", *QUICK, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr[-2000:]
    before = snapshot(run_dir)
    changed = ["resume=auto", "optimizer.lr=0.5", "trainer.max_epochs=2"]

    refused = run_tuneforge("train", *QUICK, *changed, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert_one_line_error(refused, 2, ["optimizer.lr: 0.003 -> 0.5", "trainer.max_epochs: 1 -> 2"])
    assert snapshot(run_dir) == before  # the finished run's record and checkpoints as they were

    allowed = run_tuneforge(
        "train",
        *QUICK,
        *changed,
        "resume.allow_changes=true",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2
    assert last["lr_schedulers"][0]["base_lrs"] == pytest.approx([0.5, 0.5])
    (stored,) = json.loads((run_dir / "resume_changes.json").read_text())
    assert stored["changes"]["optimizer.lr"] == [0.003, 0.5]
