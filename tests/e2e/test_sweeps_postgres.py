"""Two workers share one Optuna study through a real PostgreSQL server, started by the test on
loopback in a temporary folder (Debian's postgresql package; `make test` installs it)."""

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ..conftest import TUNEFORGE
from ..sweeps import TINY

pytestmark = [pytest.mark.slow, pytest.mark.system]  # PostgreSQL's server


def _server_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL's server is not installed: run 'make test-postgres'")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of its own, trusting loopback connections, stopped after the tests.

    The server refuses to run as root, so as root it runs as the `postgres` user the package
    creates, in a folder that user owns.
    """
    bin_dir, port = _server_bin(), _free_port()
    folder = Path(tempfile.mkdtemp(prefix="tuneforge-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        f"{folder}/log",
        "-w",
        "start",
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_one_study_without_losing_or_doubling_a_trial(postgres_url, tmp_path):
    args = [
        "train",
        "-m",
        "hparams_search=digits_cnn",
        f"hparams_search.storage={postgres_url}",
        "hparams_search.n_trials=4",
        *TINY,
        "trainer.max_epochs=1",
        "test=false",
    ]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    workers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        workers.append(
            subprocess.Popen(
                [str(TUNEFORGE), *args],
                cwd=tmp_path / name,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]

    trials = optuna.load_study(study_name="digits_cnn", storage=postgres_url).trials
    assert [(t.number, t.state) for t in trials] == [(n, TrialState.COMPLETE) for n in range(4)]
    ran = {
        name: {
            int(p.name)
            for p in (tmp_path / name / "multirun/train/digits_cnn").iterdir()
            if p.name.isdigit()
        }
        for name in ("a", "b")
    }
    assert ran["a"] | ran["b"] == {0, 1, 2, 3} and not ran["a"] & ran["b"]
    assert ran["a"] and ran["b"], "both workers ran trials of the study"
