"""`ema=DECAY`: validation, the checkpoints and the test use the averaged weights."""

import pytest
import torch

from tuneforge.errors import ConfigError
from tuneforge.run.validate import TRAIN_SCHEMA, validate

from ..conftest import compose_config

QUICK = ["debug=limit", "logger=none", "callbacks.progress_bar=null"]


def test_the_checkpoint_holds_the_average_and_eval_scores_it(tmp_path):
    from tuneforge.cli import evaluate, train

    trained = train.run(compose_config("train", ["ema=0.9", *QUICK]), tmp_path / "run")
    best = tmp_path / "run" / "checkpoints" / "best.ckpt"
    checkpoint = torch.load(best, weights_only=True)
    averaged, current = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert averaged.keys() == current.keys()
    assert any(not torch.equal(averaged[k], current[k]) for k in averaged)

    overrides = [f"ckpt_path={best}", f"paths.output_dir={tmp_path}"]
    overrides.append("trainer.limit_test_batches=2")  # the batches the run was tested on
    scored = evaluate.run(compose_config("eval", overrides), tmp_path)
    assert scored["test/acc"] == trained["test/acc"]


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_a_decay_outside_zero_to_one_is_refused(decay, tmp_path):
    cfg = compose_config("train", [f"ema={decay}", f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"ema=.* a number in \(0, 1\)"):
        validate(cfg, TRAIN_SCHEMA)
