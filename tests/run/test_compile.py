"""`compile=true`: the model trains compiled, its checkpoint loads into an uncompiled one, and a
compiled run fine-tunes from it."""

import json

import pytest
import torch

from ..conftest import compose_config

QUICK = ["debug=limit", "logger=none", "callbacks.progress_bar=null", "model=mlp"]


@pytest.mark.slow
def test_a_compiled_run_checkpoints_plain_names_that_eval_loads(tmp_path):
    from tuneforge.cli import evaluate, train
    from tuneforge.run.build import build

    cfg = compose_config("train", ["compile=true", *QUICK])
    assert hasattr(build(cfg, tmp_path / "built").model, "_compiled_call_impl")
    trained = train.run(cfg, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoints" / "best.ckpt", weights_only=True)
    assert not [name for name in state["state_dict"] if "_orig_mod" in name]

    overrides = [f"ckpt_path={tmp_path / 'run'}", f"paths.output_dir={tmp_path}"]
    overrides.append("trainer.limit_test_batches=2")  # the batches the run was tested on
    scored = evaluate.run(compose_config("eval", overrides), tmp_path / "eval")
    assert scored["test/acc"] == pytest.approx(trained["test/acc"], abs=1e-6)

    # Fine-tuning with compile=true: the weights load before compiling, every key matches.
    best = tmp_path / "run" / "checkpoints" / "best.ckpt"
    finetune = ["compile=true", "finetune=linear_probe", f"finetune.checkpoint={best}", *QUICK]
    tuned = train.run(compose_config("train", finetune), tmp_path / "tuned")
    report = json.loads((tmp_path / "tuned" / "load_report.json").read_text())
    assert not report["missing"] and not report["unexpected"] and not report["mismatched"]
    assert report["matched"] and tuned["test/acc"] > 0
