"""logger=mlflow against a real MLflow tracking server that the tests start on loopback, and
against a plain file store: everything a run sends is read back through MlflowClient, and a
sweep's trials are child runs of one run per sweep folder."""

import json
import subprocess
from pathlib import Path

import pytest
from lightning_utilities.core.imports import RequirementCache
from mlflow.tracking import MlflowClient

from tuneforge.errors import ConfigError
from tuneforge.reporting.events import read_scalars
from tuneforge.run.build import build
from tuneforge.run.mlflow_run import flat_params, sweep_run

from ..conftest import compose_config, run_tuneforge
from . import QUICK

pytestmark = pytest.mark.slow

FILE_STORE = {"MLFLOW_ALLOW_FILE_STORE": "true"}  # MLflow 3 refuses a file store unless told


def _git_repository(folder: Path) -> str:
    """Make `folder` a git checkout of one commit; return the commit."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
    return git("rev-parse", "HEAD")


def _only_experiment_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("tuneforge")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.run_name"])


def _assert_sent(client: MlflowClient, run, run_dir: Path) -> None:
    """What every run sends, checked against its folder: params, finished state, the test and
    best metrics, the best checkpoint, plots/ and metrics.json as artifacts, its tags."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run.info.status == "FINISHED"
    assert run.data.params["callbacks.model_checkpoint.monitor"] == "val/acc"  # nested
    assert run.data.params["trainer.max_epochs"] == "1"
    assert run.data.params["paths.output_dir"] == str(run_dir)
    for key in ("test/acc", "test/loss", "best/val/acc"):
        assert run.data.metrics[key] == pytest.approx(metrics[key])
    assert run.data.tags["mlflow.runName"] == run_dir.name
    assert run.data.tags["tuneforge.run_dir"] == str(run_dir)
    run_id = run.info.run_id
    assert {a.path for a in client.list_artifacts(run_id)} == {
        "checkpoints",
        "plots",
        "metrics.json",
    }
    (checkpoint,) = client.list_artifacts(run_id, "checkpoints")
    assert checkpoint.path == f"checkpoints/{Path(metrics['best_checkpoint']).name}"
    assert checkpoint.file_size == (run_dir / metrics["best_checkpoint"]).stat().st_size
    drawn = {f"plots/{p.name}" for p in (run_dir / "plots").glob("*.png")}
    assert {"plots/loss.png", "plots/confusion_matrix.png"} <= drawn
    assert {a.path for a in client.list_artifacts(run_id, "plots")} == drawn


def test_each_trial_of_a_sweep_is_a_child_of_one_run_of_the_sweep_in_a_file_store(
    tmp_path, monkeypatch
):
    result = run_tuneforge(
        "train",
        "-m",
        *QUICK,
        "logger=[csv,mlflow]",  # plots/ from the CSV log
        "logger.mlflow.tracking_uri=file:./mlruns",
        "optimizer.lr=0.002,0.004",
        "hydra.sweep.dir=sweep",
        cwd=tmp_path,
        env=FILE_STORE,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(f"file:{tmp_path / 'mlruns'}")
    first, second, sweep = _only_experiment_runs(client)  # named 0, 1 and sweep
    assert sweep.data.tags["tuneforge.sweep_dir"] == str(tmp_path / "sweep")
    assert sweep.info.status == "FINISHED"  # with its last trial
    for trial, lr in ((first, "0.002"), (second, "0.004")):
        assert trial.data.tags["mlflow.parentRunId"] == sweep.info.run_id
        assert trial.data.params["optimizer.lr"] == lr
        _assert_sent(client, trial, tmp_path / "sweep" / trial.info.run_name)


def test_workers_of_one_sweep_folder_find_the_one_run_the_first_made(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(f"file:{tmp_path / 'mlruns'}")
    experiment = client.create_experiment("tuneforge")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    made = sweep_run(client, experiment, tmp_path / "a")
    assert sweep_run(client, experiment, tmp_path / "a") == made
    assert sweep_run(client, experiment, tmp_path / "b") != made
    assert len(client.search_runs([experiment])) == 2


def test_the_config_becomes_one_param_per_dotted_key():
    config = {
        "optimizer": {"lr": 0.003, "betas": [0.9, 0.99]},
        "finetune": {"key_map": {"^head\\.(.*)": "fc.\\1"}, "checkpoint": None},
        "scheduler": {},
        "note": "x" * 7000,
    }
    assert flat_params(config) == {
        "optimizer.lr": "0.003",
        "optimizer.betas": "[0.9, 0.99]",
        "finetune.key_map._head_._.__": "fc.\\1",  # what MLflow refuses in a name becomes _
        "finetune.checkpoint": "null",
        "scheduler": "{}",
        "note": "x" * 6000,  # MLflow's limit on a value
    }


def test_without_mlflow_installed_logger_mlflow_is_one_line_that_says_what_to_install(
    tmp_path, monkeypatch
):
    missing = RequirementCache("mlflow>=999")  # Lightning's check, as it fails without mlflow
    monkeypatch.setattr("lightning.pytorch.loggers.mlflow._MLFLOW_AVAILABLE", missing)
    cfg = compose_config("train", ["model=mlp", "logger=mlflow", "callbacks=none"])
    with pytest.raises(ConfigError, match=r"^logger\.mlflow: Requirement 'mlflow>=999' not met"):
        build(cfg, tmp_path)


def test_a_run_with_tensorboard_and_mlflow_sends_everything_to_a_tracking_server(
    mlflow_server, tmp_path
):
    commit = _git_repository(tmp_path)
    run_dir = tmp_path / "run"
    uri = mlflow_server.ready()
    result = run_tuneforge(
        "train",
        *QUICK,
        "logger=[tensorboard,mlflow]",
        f"logger.mlflow.tracking_uri={uri}",
        "experiment=digits_mlp",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    client = MlflowClient(uri)
    (run,) = _only_experiment_runs(client)
    _assert_sent(client, run, run_dir)
    assert run.data.tags["mlflow.source.git.commit"] == commit
    assert run.data.tags["tuneforge.experiment"] == "digits_mlp"
    # Both loggers had every point: MLflow's history is TensorBoard's, step for step.
    logged = read_scalars(run_dir / "tensorboard")
    for tag in ("train/loss", "val/acc", "lr-AdamW/decay"):
        history = client.get_metric_history(run.info.run_id, tag)
        assert [m.step for m in history] == logged[tag].steps
        assert [m.value for m in history] == pytest.approx(logged[tag].values)
    assert logged["train/loss"].steps == [0, 1, 2]
