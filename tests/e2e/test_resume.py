"""Never lose a run: `kill -9` at random steps, during a validation too, or SIGTERM (exit 143, one
line), then `resume=auto` in the same folder ends bit for bit where an uninterrupted run ends; a
second run is refused a folder that a live run holds; a NaN loss stops the run with its checkpoints
kept; a full disk and a read-only folder are one line each."""

import json
import os
import random
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ..conftest import REPO, TUNEFORGE, run_tuneforge

pytestmark = pytest.mark.slow

# 3 epochs of 5 steps, a checkpoint every 2 steps and after each validation of 2 batches.
QUICK = [
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=5",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "checkpoint.every_n_steps=2",
    "trainer.log_every_n_steps=1",
    "callbacks.progress_bar.refresh_rate=0",
    "trainer.enable_model_summary=false",
]
HOOKS = "tests.e2e._hooks"
ENV = {"PYTHONPATH": str(REPO)}  # the runs import the hooks from tests/
RUN_FACTS = {"wall_seconds", "git_commit"}  # of this process, not of the training


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"} | ENV


def _start(run_dir: Path, *extra: str, log: Path) -> subprocess.Popen:
    command = [str(TUNEFORGE), "train", *QUICK, f"hydra.run.dir={run_dir}", *extra]
    with open(log, "w") as stderr:
        return subprocess.Popen(
            command,
            cwd=run_dir.parent,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def _run_until_paused(run_dir: Path, log: Path, *extra: str, **at: int) -> subprocess.Popen:
    """A run that has stopped at the PauseAt point `at` (step=N or val_epoch=N), alive."""
    pause = [f"+callbacks.pause._target_={HOOKS}.PauseAt"]
    pause += [f"+callbacks.pause.{key}={value}" for key, value in at.items()]
    process = _start(run_dir, *extra, *pause, log=log)
    for line in process.stdout:
        if line.startswith("PAUSED"):
            return process
    process.wait()
    raise AssertionError(f"ended ({process.returncode}) before {at}: {log.read_text()[-3000:]}")


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()


def _finals(run_dir: Path) -> tuple[dict, dict, dict]:
    """metrics.json without the process's facts, the last weights, and the TensorBoard curves."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    curves = {
        tag: [(e.step, e.value) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
        if tag != "hp/wall_seconds"
    }
    return {k: v for k, v in metrics.items() if k not in RUN_FACTS}, last, curves


@pytest.fixture(scope="module")
def killed_three_times(tmp_path_factory) -> dict:
    """An uninterrupted run, and the same run killed mid-epoch, during a validation and mid-epoch
    again at random points, each time resumed with resume=auto in its folder."""
    root = tmp_path_factory.mktemp("resume")
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    first = rng.randint(1, 4)  # of 15 steps; checkpoints at 2, 4, 5 (validation), 6, ...
    val_epoch = rng.choice([0, 1])
    later = rng.choice([s for s in range(5 * val_epoch + 6, 15) if s % 5])
    points = f"seed {seed}: step {first}, validation {val_epoch}, step {later}"

    reference = _start(root / "uninterrupted", log=root / "uninterrupted.err")
    run_dir = root / "killed"
    logs = [root / f"killed{i}.err" for i in range(4)]
    resume = "resume=auto"
    _kill(_run_until_paused(run_dir, logs[0], step=first))
    process = _run_until_paused(run_dir, logs[1], resume, val_epoch=val_epoch)
    hydra_config = (run_dir / ".hydra" / "config.yaml").read_bytes()
    second = run_tuneforge("train", *QUICK, f"hydra.run.dir={run_dir}", cwd=root)
    refused = {"result": second, "pid": process.pid, "config_kept": hydra_config}
    refused["config_after"] = (run_dir / ".hydra" / "config.yaml").read_bytes()
    _kill(process)
    _kill(_run_until_paused(run_dir, logs[2], resume, step=later))
    last = _start(run_dir, resume, log=logs[3])
    assert last.wait() == 0, f"{points}: {logs[3].read_text()[-3000:]}"
    last.stdout.close()
    assert reference.wait() == 0, (root / "uninterrupted.err").read_text()[-3000:]
    reference.stdout.close()
    return {
        "points": points,
        "first": first,
        "reference": root / "uninterrupted",
        "run_dir": run_dir,
        "logs": [log.read_text() for log in logs],
        "refused": refused,
    }


def test_a_run_killed_three_times_ends_bit_for_bit_as_an_uninterrupted_one(killed_three_times):
    run = killed_three_times
    metrics, weights, curves = _finals(run["run_dir"])
    ref_metrics, ref_weights, ref_curves = _finals(run["reference"])
    assert metrics == ref_metrics, run["points"]
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights), run["points"]
    assert curves == ref_curves, run["points"]  # the curves go on in the same folder


def test_each_resumed_run_says_where_it_resumed_from(killed_three_times):
    run = killed_three_times
    resumed = run["logs"][1:]
    if run["first"] < 2:  # killed before the first checkpoint: nothing to resume yet
        assert "has no checkpoint yet; training from the start" in resumed[0]
        resumed = resumed[1:]
    for log in resumed:
        assert "Resuming from checkpoints/last.ckpt (epoch" in log, run["points"]
        assert "Took over the lock of run folder" in log
    assert not list((run["run_dir"] / "checkpoints").glob(".*"))


def test_a_second_run_in_a_live_runs_folder_is_refused(killed_three_times):
    refused = killed_three_times["refused"]
    result = refused["result"]
    assert result.returncode == 5
    assert result.stderr.count("error:") == 1, result.stderr
    assert f"is held by a `tuneforge train` that is still running (pid {refused['pid']}" in (
        result.stderr
    )
    assert refused["config_after"] == refused["config_kept"]  # the live run's .hydra/ untouched


def test_sigterm_stops_a_run_in_one_line_and_resume_auto_ends_it_as_uninterrupted(
    killed_three_times, tmp_path
):
    step = random.randrange(15)  # stopped at the end of the next step (within its validation)
    run_dir, logs = tmp_path / "terminated", [tmp_path / "terminated.err", tmp_path / "resumed.err"]
    process = _run_until_paused(run_dir, logs[0], step=step)
    process.send_signal(signal.SIGTERM)
    assert process.wait() == 143, f"step {step}: {logs[0].read_text()[-3000:]}"
    process.stdout.close()
    errors = [line for line in logs[0].read_text().splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: stopped by SIGTERM at epoch {step // 5}, step {step + 1}, before the run "
        "finished (no metrics.json); run the same command with resume=auto and "
        f"hydra.run.dir={run_dir} to continue it from its newest checkpoint"
    ]
    assert not (run_dir / "metrics.json").exists()
    resumed = _start(run_dir, "resume=auto", log=logs[1])
    assert resumed.wait() == 0, f"step {step}: {logs[1].read_text()[-3000:]}"
    resumed.stdout.close()
    metrics, weights, curves = _finals(run_dir)
    ref_metrics, ref_weights, ref_curves = _finals(killed_three_times["reference"])
    assert metrics == ref_metrics, f"step {step}"
    assert all(torch.equal(weights[k], ref_weights[k]) for k in ref_weights), f"step {step}"
    assert curves == ref_curves, f"step {step}"


def test_a_truncated_checkpoint_is_named_with_the_good_one_to_use(killed_three_times, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(killed_three_times["run_dir"], run_dir)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    result = run_tuneforge("eval", f"ckpt_path={last}", cwd=tmp_path)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"error: ckpt_path '{last}' is not a readable checkpoint (truncated, or not a torch "
        f"file); the newest good one beside it is ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}"
    ]


def test_a_nan_loss_is_skipped_once_then_stops_the_run_keeping_its_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    nan = [f"+callbacks.nan._target_={HOOKS}.NaNBatchAt", "+callbacks.nan.steps=[3,7]"]
    result = run_tuneforge(
        "train",
        *QUICK,
        "checkpoint.every_n_steps=1",
        "skip_nonfinite=1",
        *nan,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        env=ENV,
    )
    assert result.returncode == 6
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: the training loss was nan at step 7 after 1 such steps were skipped "
        "(skip_nonfinite=1); training stopped before the weights took it, and the checkpoints "
        "saved before it are kept. Likely a learning rate too high, or fp16 overflow; lower "
        "optimizer.lr, clip gradients (trainer.gradient_clip_val=1.0), train in bf16 "
        "(trainer.precision=bf16-mixed), or skip up to N such steps with skip_nonfinite=N"
    ]
    assert "Step 3: the training loss was nan; the step is skipped (1 of skip_nonfinite=1)" in (
        result.stderr
    )
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 7
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    assert not (run_dir / "metrics.json").exists()


def _can_mount() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = ["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "t", "/mnt"]
    return subprocess.run(probe, capture_output=True).returncode == 0


# Inside a mount namespace of its own: a small disk that the run fills, and a read-only one.
DISKS = r"""
mount -t tmpfs -o size=32m tmpfs "$1" || exit 99
"$2" train "${@:4}" hydra.run.dir="$1/run" 2> "$3/full.err"; echo $? > "$3/full.rc"
rm -f "$1/run/filler"; cp -a "$1/run" "$3/run"
mkdir "$1/ro" && mount -t tmpfs -o ro,size=1m tmpfs "$1/ro" || exit 99
"$2" train hydra.run.dir="$1/ro/run" 2> "$3/ro.err"; echo $? > "$3/ro.rc"
"""


@pytest.mark.skipif(not _can_mount(), reason="needs root to mount a small disk (unshare)")
def test_a_full_disk_and_a_read_only_folder_are_one_line_each(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    fill = [f"+callbacks.fill._target_={HOOKS}.FillDiskAt", "+callbacks.fill.step=5"]
    command = ["unshare", "--mount", "--propagation", "private", "bash", "-c", DISKS, "bash"]
    command += [str(mount), str(TUNEFORGE), str(tmp_path), *QUICK, *fill]
    result = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    full = (tmp_path / "full.err").read_text()
    assert (tmp_path / "full.rc").read_text().strip() == "5", full[-3000:]
    errors = [line for line in full.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ": the disk is full; free some space" in errors[0], full[-3000:]
    assert "Traceback" not in full and "Logging error" not in full
    checkpoints = tmp_path / "run" / "checkpoints"
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)  # the last good one, whole
    assert last["global_step"] == 5  # saved after the validation that ends epoch 0
    assert not list(checkpoints.glob(".*"))  # no half-written file left

    read_only = (tmp_path / "ro.err").read_text()
    assert (tmp_path / "ro.rc").read_text().strip() == "5", read_only
    assert read_only.strip().splitlines() == [
        f"error: cannot write '{mount / 'ro' / 'run'}': the file system is read-only; write the "
        "run to another folder with hydra.run.dir=DIR"
    ]
