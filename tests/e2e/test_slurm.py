"""Runs on a real SLURM cluster that the tests start on this machine (Debian's slurm, by
scripts/slurm/start-cluster.sh; `make test` installs it): the README's sweep through
hydra/launcher=submitit_slurm, a job too large for the node refused before it is submitted, a
pending job's state and reason said while the sweep waits, and a DDP job of two srun tasks. And
DDP inside a local sweep, which trains each trial once."""

import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from ..conftest import REPO, TUNEFORGE, run_tuneforge
from ..sweeps import TINY
from ..test_readme import CLUSTER_SECTION, readme_commands, readme_section
from .conftest import read_metrics

pytestmark = [pytest.mark.slow, pytest.mark.system]  # Debian's SLURM, MariaDB, munge

SCRIPTS = REPO / "scripts" / "slurm"
DDP_ON_CPU = ["trainer.strategy=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
QUICK = [*TINY, "trainer.max_epochs=1", "test=false"]


def _run(*command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A one-machine cluster with accounting (submitit reads job states from sacct), stopped at
    the end of the session. Its state lives in a folder of this session that munged's own user
    can reach (pytest's folders are root's alone)."""
    if os.geteuid() != 0:
        pytest.fail("SLURM's daemons need root: run the tests as root, as CI does")
    env = {**os.environ, "TUNEFORGE_SLURM_DIR": tempfile.mkdtemp(prefix="tuneforge-slurm-")}
    started = subprocess.run(
        [str(SCRIPTS / "start-cluster.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        yield
    finally:
        subprocess.run([str(SCRIPTS / "stop-cluster.sh")], env=env, timeout=120, check=False)


def _final_states(job_id: str, deadline_s: float = 60) -> set[str]:
    """The states of a job and its steps once accounting has them all ended. submitit returns a
    result as soon as the job writes it, while its steps are still ending."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = _run("sacct", "-n", "-P", "-j", job_id, "-o", "State")
        assert result.returncode == 0, result.stderr
        states = set(result.stdout.split())
        if states and not states & {"PENDING", "RUNNING", "COMPLETING", "REQUEUED"}:
            return states
        assert time.monotonic() < deadline, f"job {job_id} is still {states} after {deadline_s} s"
        time.sleep(0.2)  # between polls of the accounting database


def test_the_readmes_sweep_runs_as_slurm_jobs_through_submitit(slurm_cluster, tmp_path):
    (command,) = [
        c for c in readme_commands("tuneforge", readme_section(CLUSTER_SECTION)) if "..." not in c
    ]
    args = [*shlex.split(command)[1:], "hydra.launcher.timeout_min=5", *QUICK]
    result = run_tuneforge(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "multirun" / "train").iterdir()
    trials = sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert trials == ["0", "1"]
    for trial, seed in zip(trials, (1, 2), strict=True):
        assert read_metrics(sweep / trial)["steps"] > 0
        assert f"seed: {seed}" in (sweep / trial / ".hydra" / "config.yaml").read_text()
    tasks = sorted(
        p.name for p in (sweep / ".submitit").iterdir() if p.name[0].isdigit() and "_" in p.name
    )
    array_id = tasks[0].split("_")[0]
    assert tasks == [f"{array_id}_0", f"{array_id}_1"]  # one job array, a task per trial
    assert set(_final_states(array_id)) == {"COMPLETED"}


def test_a_job_larger_than_the_node_is_refused_before_it_is_submitted(slurm_cluster, tmp_path):
    (cpus,) = _run("sinfo", "-h", "-o", "%c").stdout.split()
    too_many = int(cpus) + 1
    args = ["-m", "hydra/launcher=submitit_slurm", f"hydra.launcher.cpus_per_task={too_many}"]
    result = run_tuneforge("train", *args, "seed=1,2", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: hydra.launcher.cpus_per_task={too_many} but the largest node of partition "
        f"debug has {cpus} CPUs; set hydra.launcher.cpus_per_task={cpus}"
    )
    assert not list(tmp_path.glob("multirun/train/*/.submitit"))  # nothing was submitted


def test_a_pending_jobs_state_and_reason_are_said_while_the_sweep_waits(slurm_cluster, tmp_path):
    """Jobs that may not start for an hour (sbatch --begin) pend with the reason BeginTime: the
    sweep says so, then says they were cancelled, and ends."""
    args = ["train", "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=1"]
    args += ["+hydra.launcher.additional_parameters.begin=now+1hour", "seed=1,2", *QUICK]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    log = tmp_path / "sweep.err"
    pending = re.compile(r"jobs (\d+)_0 \(#0 seed=1\), \d+_1 \(#1 seed=2\): PENDING \(BeginTime\)")
    with log.open("w") as stderr:
        sweep = subprocess.Popen(
            [str(TUNEFORGE), *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            deadline = time.monotonic() + 60
            while not (said := pending.search(log.read_text())):
                assert sweep.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)  # between looks at the sweep's console
            assert _run("scancel", said.group(1)).returncode == 0
            sweep.wait(timeout=60)
        finally:
            sweep.kill()
    output = log.read_text()
    assert sweep.returncode != 0
    assert f"jobs {said.group(1)}_0 (#0 seed=1), {said.group(1)}_1 (#1 seed=2): CANCELLED" in output


def test_a_ddp_job_of_two_srun_tasks_trains_once_with_both_ranks(slurm_cluster, tmp_path):
    run_dir = tmp_path / "run"
    train = [str(TUNEFORGE), "train", *DDP_ON_CPU, *QUICK, f"hydra.run.dir={run_dir}"]
    # Lightning's SLURM environment wants one task per device, given per node.
    script = tmp_path / "ddp.sbatch"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=5\n"
        f"#SBATCH --output={tmp_path}/slurm-%j.out --job-name=ddp --chdir={tmp_path}\n"
        f"srun {shlex.join(train)}\n"
    )
    # Polled through accounting: `sbatch --wait` backs off to half a minute between looks.
    submitted = _run("sbatch", "--parsable", str(script))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    states = _final_states(job_id, deadline_s=240)
    output = (tmp_path / f"slurm-{job_id}.out").read_text()
    assert states == {"COMPLETED"}, output[-3000:]

    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output
    log = (run_dir / "train.log").read_text()
    assert log.count("Finished in") == 2  # both ranks ran to the end, in the one run folder
    metrics = read_metrics(run_dir)
    assert metrics["steps"] > 0 and metrics["epochs"] == 1
    assert not list(tmp_path.glob("outputs")) and not list(run_dir.glob("*.tmp*"))


def test_ddp_inside_a_sweep_trains_each_trial_once(tmp_path):
    result = run_tuneforge(
        "train", "-m", "optimizer.lr=1e-3,3e-3", *DDP_ON_CPU, *QUICK, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # Rank 1 used to run the command line again: a second sweep, in a folder of its own.
    (sweep,) = (tmp_path / "multirun" / "train").iterdir()
    assert not (tmp_path / "outputs").exists()
    trials = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert trials == ["0", "1"]
    assert result.stderr.count("#0 : ") == 1 and result.stderr.count("#1 : ") == 1
    for trial in trials:
        folder = sweep / trial
        assert read_metrics(folder)["steps"] > 0
        # Rank 0 logs to train.log, rank 1 beside it; each ran this trial once.
        assert (folder / "train.log").read_text().count("Finished in") == 1
        assert (folder / "train_ddp_process_1.log").read_text().count("Finished in") == 1


def test_a_job_requeued_twice_resumes_to_an_uninterrupted_runs_metrics(slurm_cluster, tmp_path):
    """Both ways SLURM interrupts a job, one after the other in one job: at step 4 the warning
    before a time limit (USR2, which submitit catches to requeue the job), at step 8 a plain
    `scontrol requeue` (SIGTERM, which submitit ignores, then SIGKILL). Each time the job starts
    again in its run folder and resume=auto goes on from its newest checkpoint."""
    markers = {4: tmp_path / "held_at_4", 8: tmp_path / "held_at_8"}
    steps = [
        *(override for override in TINY if override != "callbacks=none"),
        "callbacks.progress_bar=null",  # the checkpoints, which resume=auto goes on from
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=4",
        "checkpoint.every_n_steps=2",
        "test=false",
    ]
    holds = [
        override
        for step, marker in markers.items()
        for override in (
            f"+callbacks.hold_{step}._target_={__package__}._slurm_hooks.PauseOnceAt",
            f"+callbacks.hold_{step}.step={step}",
            f"+callbacks.hold_{step}.marker={marker}",
        )
    ]
    args = ["train", "-m", "hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=1"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(REPO)  # the job imports the hook from tests/
    # Logs to files: a pipe nobody reads while the test waits could fill and stall a run.
    logs = tmp_path / "sweep.err", tmp_path / "whole.err"
    with logs[0].open("w") as sweep_err, logs[1].open("w") as whole_err:
        sweep = subprocess.Popen(
            [str(TUNEFORGE), *args, *steps, *holds, "resume=auto"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sweep_err,
        )
        # The same run uninterrupted, here, while the job runs.
        reference = subprocess.Popen(
            [str(TUNEFORGE), "train", *steps, f"hydra.run.dir={tmp_path / 'whole'}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=whole_err,
        )
        interrupts = {
            4: ("scancel", "--signal=USR2", "--full"),
            8: ("scontrol", "requeue"),
        }
        try:
            for step, command in interrupts.items():
                deadline = time.monotonic() + 180
                while not markers[step].exists():  # the job holds at this step
                    assert sweep.poll() is None, logs[0].read_text()[-3000:]
                    assert time.monotonic() < deadline, f"the job never reached step {step}"
                    time.sleep(0.1)
                (job_id,) = _run(
                    "squeue", "-h", "-t", "RUNNING", "-n", "train", "-o", "%A"
                ).stdout.split()
                assert _run(*command, job_id).returncode == 0
            sweep.wait(timeout=240)
            reference.wait(timeout=240)
        finally:
            sweep.kill()
            reference.kill()
    assert sweep.returncode == 0, logs[0].read_text()[-3000:]
    (trial,) = (tmp_path / "multirun" / "train").glob("*/0")
    assert (trial / "train.log").read_text().count("Resuming from") == 2  # not from step 0
    assert reference.returncode == 0, logs[1].read_text()[-3000:]
    resumed, whole = read_metrics(trial), read_metrics(tmp_path / "whole")
    for key in ("steps", "epochs", "best/val/acc", "best/epoch"):
        assert resumed[key] == whole[key], key
