"""tuneforge from Python: the notebook path end to end, as the README shows it."""

import json
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from sklearn.datasets import load_digits

import tuneforge
from tuneforge.checkpoint_format import CHECKPOINT_KEY
from tuneforge.errors import CheckpointError, ConfigError, DataError

from .conftest import PENGUINS, REPO

QUICK = ["debug=limit", "logger=none", "callbacks.progress_bar.refresh_rate=0"]
MLP = ["model=mlp", *QUICK]


def no_hydra_left() -> bool:
    return not GlobalHydra.instance().is_initialized()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A quick MLP on digits, trained through the API, and what `train` returned."""
    run_dir = tmp_path_factory.mktemp("api") / "run"
    return run_dir, tuneforge.train(MLP, run_dir)


def test_compose_is_the_commands_config_and_leaves_no_hydra_behind():
    cfg = tuneforge.compose(["model=mlp", "optimizer.lr=0.003"])
    assert cfg.model._target_ == "tuneforge.models.MLP"
    assert cfg.optimizer.lr == 0.003
    assert "hydra" not in cfg
    assert tuneforge.compose(verb="eval").split == "test"
    assert no_hydra_left()


def test_compose_reads_the_users_own_config_folder(tmp_path):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: mlp\nseed: 7\n"
    )
    cfg = tuneforge.compose(["experiment=mine"], config_dir=tmp_path)
    assert (cfg.seed, cfg.model._target_) == (7, "tuneforge.models.MLP")


def test_a_bad_override_is_the_commands_config_error():
    with pytest.raises(ConfigError) as refused:
        tuneforge.compose(["model=nope"])
    assert "model=nope" in refused.value.lines[0] and "mlp" in refused.value.lines[0]
    assert no_hydra_left()


def test_train_returns_the_metrics_and_writes_the_commands_run_folder(trained):
    run_dir, metrics = trained
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert json.loads((run_dir / "metrics.json").read_text()) == metrics
    assert metrics["best_checkpoint"] == "checkpoints/best.ckpt"
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert "model=mlp" in (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert "tuneforge.models.MLP" in (run_dir / ".hydra" / "config.yaml").read_text()
    assert "Finished in" in (run_dir / "train.log").read_text()
    assert no_hydra_left()


def test_train_takes_a_composed_config(tmp_path):
    cfg = tuneforge.compose(MLP)
    cfg.seed = 3
    metrics = tuneforge.train(cfg, tmp_path / "run")
    assert metrics["seed"] == 3
    assert "seed: 3" in (tmp_path / "run" / ".hydra" / "config.yaml").read_text()


def test_evaluate_scores_the_runs_best_checkpoint(trained, tmp_path):
    run_dir, _ = trained
    metrics = tuneforge.evaluate(run_dir, tmp_path / "eval", overrides=["split=val"])
    assert metrics["split"] == "val" and 0.0 <= metrics["val/acc"] <= 1.0
    assert metrics["ckpt_path"] == str((run_dir / "checkpoints" / "best.ckpt").resolve())
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    assert "ckpt_path=" in (tmp_path / "eval" / ".hydra" / "overrides.yaml").read_text()
    assert no_hydra_left()


def test_predict_and_load_agree_on_new_digits(trained):
    run_dir, metrics = trained
    digits = load_digits()
    probabilities = tuneforge.predict(run_dir, digits.images[:6])
    assert probabilities.shape == (6, 10)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(6))
    as_tensor = tuneforge.predict(run_dir, torch.from_numpy(digits.data[:6]))  # (N, 64) rows
    assert torch.allclose(as_tensor, probabilities)
    model = tuneforge.load(run_dir)
    assert isinstance(model, torch.nn.Module) and not model.training
    assert sum(p.numel() for p in model.parameters()) == metrics["params"]
    assert no_hydra_left()


def test_predict_refuses_inputs_the_data_does_not_read(trained):
    with pytest.raises(DataError, match=r"shape \(3, 5\)"):
        tuneforge.predict(trained[0], torch.zeros(3, 5))
    with pytest.raises(ConfigError, match="does not read texts"):
        tuneforge.predict(trained[0], ["a text"])


def test_predict_needs_no_training_data(tmp_path):
    """A table's statistics and classes travel in the checkpoint: with the training file gone,
    predict reads new rows (a DataFrame, or a file) while eval, which scores the file, cannot."""
    table = tmp_path / "penguins.csv"
    shutil.copy(PENGUINS, table)
    overrides = [f"data.path={table}", "data.target=species", *QUICK]
    tuneforge.train(["data=csv", *overrides], tmp_path / "run")
    rows = pd.read_csv(table).drop(columns="species").head(5)
    rows.to_csv(tmp_path / "new.csv", index=False)
    table.unlink()
    probabilities = tuneforge.predict(tmp_path / "run", rows)
    assert probabilities.shape == (5, 3)
    assert torch.allclose(tuneforge.predict(tmp_path / "run", tmp_path / "new.csv"), probabilities)
    with pytest.raises(DataError, match=r"penguins\.csv"):
        tuneforge.evaluate(tmp_path / "run", tmp_path / "eval")
    # it went ahead once the checkpoint was trusted, as the command does: its record stays
    assert (tmp_path / "eval" / ".hydra" / "config.yaml").is_file()


def test_a_hostile_checkpoint_is_refused_as_the_command_refuses_it(trained, tmp_path):
    checkpoint = torch.load(trained[0] / "checkpoints" / "best.ckpt", weights_only=True)
    checkpoint[CHECKPOINT_KEY]["config"]["model"]["_target_"] = "os.system"
    hostile = tmp_path / "hostile.ckpt"
    torch.save(checkpoint, hostile)
    line = f"ckpt_path '{hostile}' has a config that would build os.system"
    for call in (
        lambda: tuneforge.load(hostile),
        lambda: tuneforge.predict(hostile, load_digits().images[:2]),
        lambda: tuneforge.evaluate(hostile, tmp_path / "eval"),
    ):
        with pytest.raises(CheckpointError) as refused:
            call()
        assert refused.value.lines[0].startswith(line)
        assert refused.value.lines[0].endswith("add trust_config=true")
    assert not (tmp_path / "eval").exists()
    assert no_hydra_left()


def test_a_missing_checkpoint_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoints/best\.ckpt"):
        tuneforge.load(tmp_path)


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme, flags=re.S).group(1)
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(example, "README.md", "exec"), names)
    assert 0.0 <= names["metrics"]["test/acc"] <= 1.0
    assert names["probabilities"].shape == (8, 10)
    assert isinstance(names["model"], torch.nn.Module)
    assert (tmp_path / "runs" / "mlp" / "checkpoints" / "best.ckpt").is_file()
    assert no_hydra_left()


def test_import_tuneforge_and_compose_load_no_torch():
    code = (
        "import sys, tuneforge\n"
        "tuneforge.compose(['model=mlp'])\n"
        "print(sorted(m for m in ('torch', 'lightning') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
