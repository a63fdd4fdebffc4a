"""An MLflow tracking server of its own on loopback, for the tests of logger=mlflow."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

MLFLOW = Path(sys.executable).parent / "mlflow"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class Server:
    """An MLflow tracking server of its own on loopback (SQLite, artifacts in a folder)."""

    def __init__(self, folder: Path) -> None:
        self.uri = f"http://127.0.0.1:{_free_port()}"
        self.log = folder / "server.log"
        command = [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db"]
        command += ["--default-artifact-root", str(folder / "artifacts"), "--workers", "1"]
        command += ["--host", "127.0.0.1", "--port", self.uri.rsplit(":", 1)[1]]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def ready(self) -> str:
        """The server's URI, once its /health answers."""
        deadline = time.monotonic() + 180
        while not _healthy(self.uri):
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            try:  # a pause between polls that notices the server's exit
                self.process.wait(timeout=0.5)
                pytest.fail(f"mlflow server exited: {self.log.read_text()[-3000:]}")
            except subprocess.TimeoutExpired:
                pass
        return self.uri

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)  # the server and its workers, at once
        self.process.wait(timeout=60)


@pytest.fixture(scope="package", autouse=True)
def mlflow_server(tmp_path_factory) -> Iterator[Server]:
    """Started as the first test of tests/loggers starts, so that it sets its database up (half
    a minute on a busy 2-core machine) while the tests that need no server run; stopped after
    the last."""
    server = Server(tmp_path_factory.mktemp("mlflow_server"))
    try:
        yield server
    finally:
        server.stop()
