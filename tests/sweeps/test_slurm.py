"""hydra/launcher=submitit_slurm's check of a job against sinfo's nodes, and its report of the
jobs' states, from the text sinfo, sacct and squeue print (tests/e2e/test_slurm.py runs both on
a real cluster)."""

import pytest
from hydra.core.plugins import Plugins
from omegaconf import OmegaConf

from tuneforge.configs import config_dir
from tuneforge.errors import ConfigError
from tuneforge.sweeps.slurm import (
    REPEAT_S,
    Node,
    Partition,
    ReportingWatcher,
    check_fits,
    labels,
    partition_nodes,
    read_sinfo,
)

# Two partitions, the default one (`*`) of two kinds of node; sinfo --exact's lines.
SINFO = """\
cpu*|64|257000|(null)
cpu*|8|31000+|(null)
gpu|32|515000|gpu:a100:4(S:0-1),gpu:v100:2
"""
ONE_NODE = Partition("debug", [Node(cpus=2, mem_mb=24105, gpus=0)])


def test_sinfo_gives_the_nodes_of_the_named_or_the_default_partition():
    assert read_sinfo(SINFO, None) == Partition("cpu", [Node(64, 257000, 0), Node(8, 31000, 0)])
    assert read_sinfo(SINFO, "gpu") == Partition("gpu", [Node(32, 515000, 6)])
    assert read_sinfo(SINFO, "gpu,cpu").nodes == [
        *read_sinfo(SINFO, None).nodes,
        Node(32, 515000, 6),
    ]
    assert read_sinfo(SINFO, "large") is None  # sbatch refuses it in its own words


def test_no_sinfo_blocks_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # not a SLURM machine
    assert partition_nodes(None) is None


@pytest.mark.parametrize(
    ("launcher", "line"),
    [
        (
            {"cpus_per_task": 4, "tasks_per_node": 1},
            "hydra.launcher.cpus_per_task=4 but the largest node of partition debug has 2 CPUs; "
            "set hydra.launcher.cpus_per_task=2",
        ),
        (
            {"cpus_per_task": 2, "tasks_per_node": 2},
            "hydra.launcher.cpus_per_task=2 times hydra.launcher.tasks_per_node=2 but the largest "
            "node of partition debug has 2 CPUs; set hydra.launcher.cpus_per_task=1",
        ),
        (
            {"cpus_per_task": None, "tasks_per_node": 4},
            "hydra.launcher.tasks_per_node=4 (one task per device) but the largest node of "
            "partition debug has 2 CPUs; set trainer.devices to at most 2",
        ),
        (
            {"cpus_per_task": 1, "mem_gb": 32},
            "hydra.launcher.mem_gb=32 but the largest node of partition debug has 23 GB; "
            "set hydra.launcher.mem_gb=23",
        ),
        (
            {"gpus_per_node": 1},
            "hydra.launcher.gpus_per_node=1 but the largest node of partition debug has 0 GPUs; "
            "choose a GPU hydra.launcher.partition",
        ),
    ],
)
def test_a_job_larger_than_every_node_is_refused_in_one_line_that_says_what_to_set(launcher, line):
    with pytest.raises(ConfigError) as refused:
        check_fits(launcher, ONE_NODE)
    assert refused.value.lines == [line]


def test_a_job_that_fits_one_node_goes_ahead_and_one_no_node_holds_whole_is_refused():
    cpu, gpu = read_sinfo(SINFO, None).nodes[0], read_sinfo(SINFO, "gpu").nodes[0]
    both = Partition("mixed", [cpu, gpu])
    check_fits({"cpus_per_task": 8, "tasks_per_node": 4, "gpus_per_node": "a100:4"}, both)
    with pytest.raises(ConfigError, match="no node of partition mixed has 64 CPUs, 0 GB and 4"):
        check_fits({"cpus_per_task": 16, "tasks_per_node": 4, "gpus_per_node": 4}, both)


def test_the_config_as_shipped_is_refused_on_a_two_cpu_node_with_the_fix():
    """conf/hydra/launcher/submitit_slurm.yaml's own numbers, and its target is a Hydra plugin."""
    launcher = OmegaConf.load(config_dir() / "hydra" / "launcher" / "submitit_slurm.yaml")
    assert launcher._target_ in Plugins.instance().class_name_to_class
    with pytest.raises(ConfigError) as refused:
        check_fits({"cpus_per_task": launcher.cpus_per_task, "tasks_per_node": 1}, ONE_NODE)
    assert refused.value.lines[0].endswith("; set hydra.launcher.cpus_per_task=2")


class Console:
    """What the watcher says, and a clock the test moves."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.now = 0.0


def _watcher(console: Console, labels: list[str], jobs: list[str]) -> ReportingWatcher:
    watcher = ReportingWatcher(labels, say=console.lines.append, clock=lambda: console.now)
    for job in jobs:
        watcher.register_job(job)
    return watcher


def _squeue(text: str, watcher: ReportingWatcher) -> dict:
    return watcher.read_info("JobID|State|Reason\n" + text)


def test_the_jobs_states_are_said_when_they_change_and_pending_ones_again_later():
    console = Console()
    # submitit registers the array (12) beside its tasks: it runs no trial, and is not said
    watcher = _watcher(console, ["#0 seed=1", "#1 seed=2"], ["12", "12_0", "12_1"])
    watcher.report(_squeue("12_[0-1%256]|PENDING|Resources\n", watcher))
    assert console.lines == ["jobs 12_0 (#0 seed=1), 12_1 (#1 seed=2): PENDING (Resources)"]
    console.now = REPEAT_S - 1
    watcher.report(_squeue("12_[0-1%256]|PENDING|Resources\n", watcher))
    assert len(console.lines) == 1  # nothing changed, and too soon to say it again
    console.now = REPEAT_S + 1
    watcher.report(_squeue("12_0|RUNNING|None\n12_1|PENDING|Resources\n", watcher))
    assert console.lines[1:] == [
        "job 12_0 (#0 seed=1): RUNNING",
        "job 12_1 (#1 seed=2): PENDING (Resources)",
    ]
    console.now = 3 * REPEAT_S
    # 12_1 started and ended between two looks: accounting (sacct) has it, squeue no longer
    watcher._info_dict["12_1"] = {"State": "COMPLETED"}
    watcher.report(_squeue("12_0|RUNNING|None\n", watcher))
    assert console.lines[3:] == ["job 12_1 (#1 seed=2): COMPLETED"]  # running: said once


def test_a_report_names_a_few_jobs_of_a_state_and_counts_the_rest():
    console = Console()
    overrides = [[f"seed={seed}", "trainer.max_epochs=1"] for seed in range(10)]
    jobs = [f"7_{i}" for i in range(10)]
    watcher = _watcher(console, labels(overrides, first=20), jobs)
    watcher.report(_squeue("7_[0-9]|PENDING|QOSMaxJobsPerUserLimit\n", watcher))
    assert console.lines == [
        "jobs 7_0 (#20 seed=0), 7_1 (#21 seed=1), 7_2 (#22 seed=2), 7_3 (#23 seed=3) and 6 more: "
        "PENDING (QOSMaxJobsPerUserLimit)"
    ]


def test_a_single_job_is_named_by_its_number():
    console = Console()
    watcher = _watcher(console, labels([["seed=1"]], first=3), ["40"])
    watcher.report(_squeue("40|PENDING|Priority\n", watcher))
    assert console.lines == ["job 40 (#3): PENDING (Priority)"]
