"""The SLURM jobs of `-m hydra/launcher=submitit_slurm`: a job larger than every node of its
partition is refused before it is submitted, and while the sweep waits, each job's state and the
reason it pends are said on the console.

SLURM accepts a job that asks for more CPUs than any node has and leaves it pending for ever
(reason PartitionConfig), and submitit waits for it without a word: both ends of that silence are
here. `hydra_plugins.tuneforge_launcher` calls them around hydra-submitit-launcher's launch.
"""

import logging
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

from tuneforge.errors import ConfigError

log = logging.getLogger(__name__)

# sinfo's line per kind of node: partition (the default one marked `*`), CPUs, memory in MB and
# GRES. --exact: nodes of different sizes get lines of their own, not the smallest's size and `+`.
SINFO = ["sinfo", "--noheader", "--exact", "--format=%P|%c|%m|%G"]
# At most this many seconds between two looks at the jobs' states (submitit's own watcher waits
# up to ten minutes), and between two reports of the jobs still pending.
POLL_S = 10
REPEAT_S = 30
# A report names this many jobs of one state, then counts the rest.
NAMED = 4


@dataclass(frozen=True)
class Node:
    cpus: int
    mem_mb: int
    gpus: int


@dataclass(frozen=True)
class Partition:
    name: str
    nodes: list[Node]


def read_sinfo(output: str, partition: str | None) -> Partition | None:
    """The nodes of `partition` (a name, several separated by commas, or None for the default
    one) in sinfo's output in SINFO's format; None where it lists none of them."""
    wanted = set(partition.split(",")) if partition else None
    nodes, names = [], []
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4:
            continue
        listed, cpus, mem, gres = fields
        if (listed.rstrip("*") not in wanted) if wanted else not listed.endswith("*"):
            continue
        nodes.append(Node(_whole(cpus), _whole(mem), _gpus(gres)))
        names += [listed.rstrip("*")] if listed.rstrip("*") not in names else []
    return Partition(",".join(names), nodes) if nodes else None


def _whole(field: str) -> int:
    digits = re.match(r"\d+", field)
    return int(digits.group()) if digits else 0


def _gpus(gres: str) -> int:
    """The GPUs of a node's GRES, e.g. `gpu:4`, `gpu:a100:2(S:0-1),gpu:v100:1` or `(null)`."""
    total = 0
    for item in re.sub(r"\([^)]*\)", "", gres).split(","):
        parts = item.split(":")
        total += int(parts[-1]) if parts[0] == "gpu" and parts[-1].isdigit() else 0
    return total


def partition_nodes(partition: str | None) -> Partition | None:
    """What sinfo says the nodes of `partition` hold; None where sinfo is missing or fails (not
    a SLURM machine, or its controller is down: sbatch then says why) or knows no such
    partition (sbatch refuses it in its own words)."""
    where = ["--partition", partition] if partition else []
    try:
        listed = subprocess.run([*SINFO, *where], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return read_sinfo(listed.stdout, partition) if listed.returncode == 0 else None


def _count(value: Any) -> int | None:
    """A whole number of the launcher's config (`gpus_per_node: a100:2` counts 2); None for
    none or anything else, which this check leaves to SLURM."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.rsplit(":", 1)[-1].isdigit():
        return int(value.rsplit(":", 1)[-1])
    return None


def check_fits(launcher: Mapping[str, Any], partition: Partition) -> None:
    """Refuse, in one line that says what to set, a job (`launcher`: hydra.launcher's keys) that
    no node of `partition` can hold."""
    tasks = _count(launcher.get("tasks_per_node")) or 1
    per_task = _count(launcher.get("cpus_per_task")) or 1
    mem_gb = _count(launcher.get("mem_gb")) or 0
    gpus = _count(launcher.get("gpus_per_node")) or 0
    nodes, key = partition.nodes, "hydra.launcher"
    largest = f"the largest node of partition {partition.name} has"
    cpus = max(node.cpus for node in nodes)
    if tasks > cpus:
        raise ConfigError(
            f"{key}.tasks_per_node={tasks} (one task per device) but {largest} {cpus} CPUs; "
            f"set trainer.devices to at most {cpus}"
        )
    if per_task * tasks > cpus:
        times = f" times {key}.tasks_per_node={tasks}" if tasks > 1 else ""
        raise ConfigError(
            f"{key}.cpus_per_task={per_task}{times} but {largest} {cpus} CPUs; "
            f"set {key}.cpus_per_task={cpus // tasks}"
        )
    memory = max(node.mem_mb for node in nodes) // 1024
    if mem_gb > memory:
        raise ConfigError(
            f"{key}.mem_gb={mem_gb} but {largest} {memory} GB; set {key}.mem_gb={memory}"
        )
    most = max(node.gpus for node in nodes)
    if gpus > most:
        fix = f"set {key}.gpus_per_node={most}" if most else f"choose a GPU {key}.partition"
        raise ConfigError(f"{key}.gpus_per_node={gpus} but {largest} {most} GPUs; {fix}")
    fits = [n for n in nodes if n.cpus >= per_task * tasks and n.mem_mb >= mem_gb * 1024]
    if not any(node.gpus >= gpus for node in fits):
        raise ConfigError(
            f"no node of partition {partition.name} has {per_task * tasks} CPUs, {mem_gb} GB "
            f"and {gpus} GPUs at once; lower {key}.cpus_per_task, mem_gb or gpus_per_node, or "
            f"choose another {key}.partition"
        )


def check_partition(launcher: Mapping[str, Any]) -> None:
    """check_fits against the partition the job goes to, where sinfo can say what it holds."""
    partition = partition_nodes(launcher.get("partition"))
    if partition is not None:
        check_fits(launcher, partition)


class ReportingWatcher(SlurmInfoWatcher):
    """submitit's watcher of SLURM jobs (one sacct call for them all, at most POLL_S seconds
    apart), which also says each job's state, and why it pends, when it changes and, every
    REPEAT_S seconds, again for the jobs still pending. `labels[i]` names the job of array task i
    (the only job, where there is one)."""

    def __init__(
        self,
        labels: list[str],
        say: Callable[[str], None] = log.info,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(delay_s=POLL_S)
        self.labels, self.say, self.clock = labels, say, clock
        self.said: dict[str, tuple[str, str]] = {}
        self.repeated = clock()

    def update(self) -> None:
        super().update()
        self.report(self._queue())

    def _queue(self) -> dict[str, dict[str, str]]:
        """The live jobs' state and pending reason as squeue has them from the controller now:
        accounting's (sacct) lag, and its reason of a pending job may stay None for good."""
        arrays = sorted({job.split("_")[0] for job in self._registered - self._finished})
        if not arrays:
            return {}
        command = ["squeue", "--noheader", "--format=%i|%T|%r", "--jobs", ",".join(arrays)]
        try:
            listed = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        ok = listed.returncode == 0
        return self.read_info("JobID|State|Reason\n" + listed.stdout) if ok else {}

    def report(self, queued: Mapping[str, Mapping[str, str]]) -> None:
        """Say the states (squeue's in `queued`, else sacct's) that changed since the last
        report, and the pending jobs' once REPEAT_S seconds have passed since they were said."""
        states = {}
        for job in sorted(self._registered):
            info = queued.get(job) or self._info_dict.get(job, {})
            if info.get("State") and self._label(job) is not None:
                reason = info.get("Reason", "")
                states[job] = info["State"], "" if reason == "None" else reason
        repeat = self.clock() - self.repeated >= REPEAT_S
        shown = {
            job: state
            for job, state in states.items()
            if self.said.get(job) != state or (repeat and state[0] == "PENDING")
        }
        if repeat or any(state[0] == "PENDING" for state in shown.values()):
            self.repeated = self.clock()
        for line in describe(shown, self._label):
            self.say(line)
        self.said.update(shown)

    def _label(self, job: str) -> str | None:
        """What names `job`: its label, or None for a job that runs none of them (the job array
        itself, which submitit registers beside its tasks)."""
        if len(self.labels) == 1:
            return self.labels[0]
        index = job.partition("_")[2]
        return (
            self.labels[int(index)] if index.isdigit() and int(index) < len(self.labels) else None
        )


def describe(
    states: Mapping[str, tuple[str, str]], label: Callable[[str], str | None]
) -> list[str]:
    """A line per state (and reason), naming its jobs: `job 12_0 (#0 seed=1): PENDING
    (Resources)`, or `jobs 12_0 (#0 seed=1), 12_1 (#1 seed=2): RUNNING`."""
    groups: dict[tuple[str, str], list[str]] = {}
    for job, state in states.items():
        groups.setdefault(state, []).append(job)
    lines = []
    for (state, reason), jobs in groups.items():
        named = [f"{job} ({label(job)})" for job in jobs[:NAMED]]
        more = f" and {len(jobs) - NAMED} more" if len(jobs) > NAMED else ""
        why = f" ({reason})" if reason else ""
        jobs_word = "job" if len(jobs) == 1 else "jobs"
        lines.append(f"{jobs_word} {', '.join(named)}{more}: {state}{why}")
    return lines


def labels(job_overrides: Sequence[Sequence[str]], first: int) -> list[str]:
    """What names each job in a report: its number in the sweep (as Hydra's `#N : ...` line
    gives it) and the overrides that set it apart from the others."""
    shared = set.intersection(*(set(overrides) for overrides in job_overrides))
    return [
        " ".join([f"#{first + i}", *(o for o in overrides if o not in shared)])
        for i, overrides in enumerate(job_overrides)
    ]


@contextmanager
def reporting(labels: list[str]) -> Iterator[None]:
    """The SLURM jobs that submitit creates inside this block are watched by a ReportingWatcher.
    submitit keeps one watcher for all SLURM jobs, on their class, and gives an executor no way
    to choose its own: it is swapped for the block, and put back."""
    kept = SlurmJob.watcher
    SlurmJob.watcher = ReportingWatcher(labels)
    try:
        yield
    finally:
        SlurmJob.watcher = kept
