"""What a run sends to MLflow beyond the metrics that Lightning's MLFlowLogger logs as they come.

Before training: tags (the run folder, the experiment chosen, the git commit of the folder the
command runs in) and the resolved config as params, one per dotted key. Once the run has ended
and drawn its plots: the final metrics it has not logged yet (best/...), the best checkpoint,
metrics.json and plots/ as artifacts. A sweep's trial is a child run (MLflow's
`mlflow.parentRunId` tag) of one run per sweep folder, which the first trial to start makes.
"""

import fcntl
import hashlib
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from tuneforge.reporting.layout import HYDRA, METRICS, PLOTS

PARENT = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"
GIT_COMMIT = "mlflow.source.git.commit"
RUN_DIR = "tuneforge.run_dir"
EXPERIMENT = "tuneforge.experiment"
SWEEP_DIR = "tuneforge.sweep_dir"
SWEEP_KEY = "tuneforge.sweep_key"  # a hash of SWEEP_DIR: no quoting in a search filter
SWEEP_LOCK = "mlflow.lock"  # in the sweep folder, held while a trial finds or makes its parent
# MLflow's limits (mlflow.utils.validation): a batch's params, a param's value
_PARAMS_PER_BATCH = 100
_MAX_VALUE = 6000


def start(logger: Any, run_dir: Path, config: dict[str, Any]) -> None:
    """Tag `logger`'s run, make it a child of its sweep's run, and log `config` as params;
    the MLflow run is made here, before training logs to it."""
    hydra = _record(run_dir)
    tags = {RUN_NAME: run_dir.name, RUN_DIR: str(run_dir.absolute()), **_provenance()}
    experiment = hydra.get("runtime", {}).get("choices", {}).get("experiment")
    if experiment:
        tags[EXPERIMENT] = experiment
    logger.tags = {**tags, **(logger.tags or {})}  # the config's own tags win
    client, run_id = logger.experiment, logger.run_id
    if str(hydra.get("mode")) == "MULTIRUN":  # a trial, in a folder of its sweep's folder
        client.set_tag(run_id, PARENT, sweep_run(client, logger.experiment_id, run_dir.parent))
    from mlflow.entities import Param

    params = [Param(key, value) for key, value in flat_params(config).items()]
    for first in range(0, len(params), _PARAMS_PER_BATCH):
        client.log_batch(run_id, params=params[first : first + _PARAMS_PER_BATCH])


def finish(logger: Any, run_dir: Path, metrics: dict[str, Any]) -> None:
    """Send what the run left once it ended: metrics.json's numbers under test/ and best/ that
    were not logged yet, at the last step; the best checkpoint under checkpoints/, plots/ and
    metrics.json as artifacts. A sweep's run ends with its latest trial."""
    from mlflow.entities import Metric

    client, run_id = logger.experiment, logger.run_id
    run = client.get_run(run_id)
    now = int(time.time() * 1000)
    final = [
        Metric(key, float(value), now, int(metrics.get("steps") or 0))
        for key, value in metrics.items()
        if key.startswith(("test/", "best/"))
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and key not in run.data.metrics
    ]
    if final:
        client.log_batch(run_id, metrics=final)
    if metrics.get("best_checkpoint"):
        client.log_artifact(run_id, str(run_dir / metrics["best_checkpoint"]), "checkpoints")
    if (run_dir / PLOTS).is_dir():
        client.log_artifacts(run_id, str(run_dir / PLOTS), PLOTS)
    if (run_dir / METRICS).is_file():
        client.log_artifact(run_id, str(run_dir / METRICS))
    parent = run.data.tags.get(PARENT)
    if parent:
        client.set_terminated(parent, "FINISHED")


def sweep_run(client: Any, experiment_id: str, sweep_dir: Path) -> str:
    """The id of the run of the sweep in `sweep_dir`, made by the first trial that asks.

    Found by its tag in the tracking store, so every worker of the sweep, and a sweep run again
    in the same folder, finds the same run; a lock file in the sweep folder keeps two workers
    (on this machine, or on a file system they share) from both making one.
    """
    path = str(sweep_dir.absolute())
    key = hashlib.sha256(path.encode()).hexdigest()[:32]
    with open(sweep_dir / SWEEP_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`{SWEEP_KEY}` = '{key}'", max_results=1
        )
        if found:
            return found[0].info.run_id
        tags = {RUN_NAME: sweep_dir.name, SWEEP_DIR: path, SWEEP_KEY: key, **_provenance()}
        return client.create_run(experiment_id, tags=tags).info.run_id


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """`config` as MLflow params: one per dotted key (`optimizer.lr`), lists and empty dicts
    as JSON, keys with characters MLflow refuses written with `_`, values cut at its limit."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            params.update(flat_params(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            params[re.sub(r"[^/\w.\- ]", "_", name)] = text[:_MAX_VALUE]
    return params


def _record(run_dir: Path) -> dict[str, Any]:
    """The `hydra` node of the run's record (.hydra/hydra.yaml): its mode (RUN, or MULTIRUN for
    a sweep's trial) and group choices; empty where there is none."""
    path = run_dir / HYDRA / "hydra.yaml"
    record = yaml.safe_load(path.read_text()) if path.is_file() else None
    return (record or {}).get("hydra") or {}


def _provenance() -> dict[str, str]:
    """The git commit of the folder the command runs in, where that is a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {GIT_COMMIT: commit} if commit else {}
