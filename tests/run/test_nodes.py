"""trainer.num_nodes against the nodes the launcher says it started: a mismatch would wait at
the rendezvous for half an hour, silently."""

import pytest

from tuneforge.errors import ConfigError
from tuneforge.run.nodes import check_nodes

from ..conftest import run_tuneforge

LAUNCHERS = ("SLURM_", "TORCHELASTIC_RUN_ID", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR")


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(LAUNCHERS) or name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "RANK"):
            monkeypatch.delenv(name)


def test_a_lone_process_may_be_one_node():
    check_nodes(1)


@pytest.mark.parametrize(
    ("environment", "num_nodes", "fragments"),
    [
        (
            {},
            2,
            [
                "num_nodes=2 but a process started without a cluster launcher provides 1 node",
                "NODE_RANK",
            ],
        ),
        (
            {"SLURM_NTASKS": "2", "SLURM_NNODES": "1", "SLURM_JOB_NAME": "job"},
            2,
            ["this SLURM job (SLURM_NNODES) provides 1 node", "hydra/launcher=submitit_slurm"],
        ),
        (
            {"SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_JOB_NAME": "job"},
            4,
            ["provides 2 nodes", "set trainer.num_nodes=2"],
        ),
        (
            {
                "TORCHELASTIC_RUN_ID": "x",
                "GROUP_RANK": "0",
                "RANK": "0",
                "LOCAL_RANK": "0",
                "WORLD_SIZE": "8",
                "LOCAL_WORLD_SIZE": "4",
            },
            1,
            ["torchrun (WORLD_SIZE / LOCAL_WORLD_SIZE) provides 2 nodes", "trainer.num_nodes=2"],
        ),
        (
            {"NODE_RANK": "2", "MASTER_ADDR": "127.0.0.1"},
            2,
            ["NODE_RANK=2 is not one of the trainer.num_nodes=2 nodes (0..1)"],
        ),
    ],
)
def test_nodes_the_launcher_did_not_start_are_refused(
    environment, num_nodes, fragments, monkeypatch
):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        check_nodes(num_nodes)
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.parametrize(
    "environment",
    [
        {"SLURM_NTASKS": "8", "SLURM_NNODES": "2", "SLURM_JOB_NAME": "job"},
        {"NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1"},
    ],
)
def test_nodes_the_launcher_started_pass(environment, monkeypatch):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    check_nodes(2)


def test_train_asking_for_two_nodes_alone_is_one_line(tmp_path):
    result = run_tuneforge(
        "train", "trainer.num_nodes=2", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert "trainer.num_nodes=2" in errors[0] and "NODE_RANK" in errors[0]
    assert not (tmp_path / "run" / "checkpoints").exists()
