"""Two-process DDP on the CPU (gloo) against one process reading the same batches whole.

Each rank trains on every second sample of the one process's order, so two ranks with batches of
32 together take its steps of 64, and validation and test read each sample exactly once: the
metrics equal the one process's up to the order of float sums. The model is the MLP without
dropout: the CNN's BatchNorm normalises each rank's 32 samples by their own statistics
(SyncBatchNorm runs on GPUs only) and dropout draws other masks on each rank, either of which
makes the runs differ by more than rounding.
"""

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from tuneforge.cli import train

from ..conftest import REPO, TUNEFORGE, compose_config
from .conftest import read_metrics

pytestmark = pytest.mark.slow

RECORD = "+callbacks.samples._target_=tests.e2e._ddp_hooks.RecordSamples"
COMMON = [
    "model=mlp",
    "model.dropout=0",
    "trainer.limit_train_batches=8",
    "trainer.max_epochs=1",
    "logger=none",
    "callbacks.progress_bar.refresh_rate=0",
    RECORD,
]
# Float sums taken in another order (gradients averaged across ranks, metric states summed).
TOLERANCE = 1e-5
# Adam divides by the root of its second moment, so where a gradient is near zero a rounding
# difference moves a weight by up to the learning rate (1e-3): 2e-5 was the largest, in 8 steps.
ADAM_TOLERANCE = 1e-4


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return env | {"PYTHONPATH": str(REPO)} | extra


def _train(folder: Path, *overrides: str) -> Path:
    """`tuneforge train` in a process of its own, as DDP's launcher needs (it starts rank 1 with
    the command line), importing the recording callback from tests/."""
    run_dir = folder / "run"
    result = subprocess.run(
        [str(TUNEFORGE), "train", *COMMON, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _train_on_two_nodes(folder: Path, *overrides: str) -> Path:
    """The same command started once per "node", as a cluster's nodes start it: each process
    told its NODE_RANK and where node 0 listens, one device each, gloo over loopback."""
    run_dir = folder / "run"
    command = [str(TUNEFORGE), "train", *COMMON, *overrides, f"hydra.run.dir={run_dir}"]
    rendezvous = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    nodes = [
        subprocess.Popen(
            command,
            cwd=folder,
            env=_env(NODE_RANK=str(rank), **rendezvous),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    errors = [node.communicate(timeout=600)[1] for node in nodes]
    for node, stderr in zip(nodes, errors, strict=True):
        assert node.returncode == 0, stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The same training as one process with batches of 64 and as two of 32."""
    single = tmp_path_factory.mktemp("single") / "run"
    train.run(compose_config("train", [*COMMON, "data.batch_size=64"]), single)
    ddp = _train(
        tmp_path_factory.mktemp("ddp"), "trainer=ddp_cpu", "trainer.devices=2", "data.batch_size=32"
    )
    nodes = _train_on_two_nodes(
        tmp_path_factory.mktemp("nodes"),
        "trainer=ddp_cpu",
        "trainer.devices=1",
        "trainer.num_nodes=2",
        "data.batch_size=32",
    )
    return {"single": single, "ddp": ddp, "nodes": nodes}


def _samples(run_dir: Path, rank: int) -> dict[str, list[str]]:
    return json.loads((run_dir / f"samples_rank{rank}.json").read_text())


@pytest.mark.parametrize("layout", ["ddp", "nodes"])
def test_two_ranks_reach_the_metrics_of_one_process_with_the_doubled_batch(runs, layout):
    """Two processes on one node, or one on each of two nodes, as one process with both batches."""
    single, ddp = read_metrics(runs["single"]), read_metrics(runs[layout])
    assert single["steps"] == ddp["steps"] == 8
    compared = ["best/val/acc", "test/acc", "test/f1", "test/loss"]
    for key in compared:
        assert ddp[key] == pytest.approx(single[key], abs=TOLERANCE), key
    assert single["test/acc"] > 0.5  # it learned: equal metrics of an untrained model prove little


@pytest.mark.parametrize("layout", ["ddp", "nodes"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_each_rank_reads_its_own_shard_and_together_they_read_each_sample_once(runs, split, layout):
    whole = _samples(runs["single"], 0)[split]
    rank0, rank1 = (_samples(runs[layout], rank)[split] for rank in (0, 1))
    assert not set(rank0) & set(rank1)
    assert len(rank0) + len(rank1) == len(whole)
    assert set(rank0) | set(rank1) == set(whole)
    assert len(set(whole)) == len(whole)  # no sample read twice, padding included


@pytest.mark.parametrize("layout", ["ddp", "nodes"])
def test_the_confusion_matrix_counts_both_ranks_test_shards(runs, layout):
    single, ddp = ((runs[name] / "confusion_matrix.csv").read_text() for name in ("single", layout))
    assert ddp == single


@pytest.mark.parametrize("layout", ["ddp", "nodes"])
def test_two_ranks_end_with_the_weights_of_one_process_with_the_doubled_batch(runs, layout):
    import torch

    single, other = (
        torch.load(runs[name] / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for name in ("single", layout)
    )
    assert single.keys() == other.keys()
    for key, weight in single.items():
        torch.testing.assert_close(other[key], weight, atol=ADAM_TOLERANCE, rtol=0, msg=key)
