"""`tuneforge eval` and `tuneforge predict` rebuild the run from the checkpoint's config."""

import numpy as np
import pandas as pd
import pytest

from ..conftest import run_tuneforge
from .conftest import only_run_dir, read_metrics

pytestmark = pytest.mark.slow


def test_eval_reproduces_the_training_test_accuracy(default_run, tmp_path):
    best = default_run / "checkpoints" / "best.ckpt"
    result = run_tuneforge("eval", f"ckpt_path={best}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "test/acc" in result.stdout  # the printed table
    evaluated = read_metrics(only_run_dir(tmp_path, "eval"))
    assert evaluated["test/acc"] == read_metrics(default_run)["test/acc"]
    assert evaluated["split"] == "test" and evaluated["ckpt_path"] == str(best)


def test_eval_takes_a_run_folder_for_its_best_checkpoint(default_run, tmp_path):
    result = run_tuneforge("eval", f"ckpt_path={default_run}", "split=val", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    evaluated = read_metrics(only_run_dir(tmp_path, "eval"))
    assert evaluated["val/acc"] == pytest.approx(read_metrics(default_run)["best/val/acc"])


def test_predict_writes_the_test_split_with_its_targets(default_run, tmp_path):
    best = default_run / "checkpoints" / "best.ckpt"
    result = run_tuneforge("predict", f"ckpt_path={best}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(only_run_dir(tmp_path, "predict") / "predictions.csv")
    assert list(frame.columns) == ["index", "prediction", "probability", "label", "target"]
    assert len(frame) == 360
    assert frame["probability"].between(0.1, 1.0).all()
    accuracy = (frame["prediction"] == frame["target"]).mean()
    assert accuracy == pytest.approx(read_metrics(default_run)["test/acc"], abs=1e-6)


def test_predict_reads_new_inputs_from_a_file(default_run, tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.savetxt(tmp_path / "new.csv", digits.data[:20], delimiter=",", fmt="%d")
    best = default_run / "checkpoints" / "best.ckpt"
    result = run_tuneforge("predict", f"ckpt_path={best}", "predict.input=new.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(only_run_dir(tmp_path, "predict") / "predictions.csv")
    assert list(frame.columns) == ["index", "prediction", "probability", "label"]
    assert (frame["prediction"].to_numpy() == digits.target[:20]).mean() >= 0.9
