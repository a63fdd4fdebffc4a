"""`tuneforge tensorboard DIR` serves a real run: its scalars read back through TensorBoard's HTTP
API, and the page in headless Chromium shows the run and its scalar groups."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from ..conftest import TUNEFORGE, default_sigint, run_tuneforge

DEADLINE_S = 120  # to start, read the run and render: minutes only on a machine under load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Stop the process and every process it started (its own session's group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def poll_json(url: str, ready, deadline: float):
    """GET `url` until `ready(answer)` holds (TensorBoard reads the run in a thread of its own,
    after it answers), a fifth of a second apart, until the deadline."""
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            answer = json.load(response)
        if ready(answer):
            return answer
        assert time.monotonic() < deadline, f"{url} still answers {answer}"
        time.sleep(0.2)


def chromium(url: str, profile: Path, *output: str) -> str:
    """Headless Chromium on `url`, given time to run the page's scripts; its stdout."""
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
        "--virtual-time-budget=20000",
        *output,
        url,
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, _ = process.communicate(timeout=DEADLINE_S)
    finally:
        stop(process)
    assert process.returncode == 0
    return stdout


@pytest.mark.slow
@pytest.mark.system  # Chromium
def test_tensorboard_serves_a_run_that_the_browser_shows(default_run, tmp_path):
    logdir = tmp_path / "runs"
    shutil.copytree(default_run / "tensorboard", logdir / "digits" / "tensorboard")
    port = free_port()
    board = subprocess.Popen(
        [str(TUNEFORGE), "tensorboard", str(logdir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    try:
        assert (
            board.stdout.readline() == f"TensorBoard at http://127.0.0.1:{port}/ (Ctrl-C to stop)\n"
        )
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + DEADLINE_S
        tags = poll_json(f"{url}data/plugin/scalars/tags", lambda tags: tags, deadline)
        run = "digits/tensorboard"
        assert {"train/loss", "val/loss", "val/acc", "lr-AdamW/decay"} <= set(tags[run])

        dom = chromium(f"{url}#timeseries", tmp_path / "profile", "--dump-dom")
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
        assert run in text  # the runs table
        for group in ("lr-AdamW", "train", "val"):  # a group of cards per tag prefix
            assert re.search(rf" {group} (\d+ cards )?", text), group
        shot = tmp_path / "tensorboard.png"
        chromium(f"{url}#timeseries", tmp_path / "profile2", f"--screenshot={shot}")
        pixels = imread(shot)
        assert pixels.shape[:2] == (900, 1280)
        assert np.std(pixels[..., :3]) > 0.05  # not a blank page

        board.send_signal(signal.SIGINT)  # Ctrl-C
        assert board.stdout.read() == "Stopped.\n"
        assert board.wait(timeout=DEADLINE_S) == 0
    finally:
        stop(board)


def test_a_folder_that_does_not_exist_is_one_line(tmp_path):
    result = run_tuneforge("tensorboard", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: nowhere does not exist; name a folder that holds runs"


def test_without_runs_here_it_says_where_to_run_it(tmp_path):
    result = run_tuneforge("tensorboard", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: no outputs/ or multirun/ here; run it where you trained (tuneforge train), "
        "or name a folder: tuneforge tensorboard DIR"
    )
