"""One live run per run folder: a second is refused with the holder's pid, a dead holder's lock is
taken over."""

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneforge.errors import OutputError
from tuneforge.run.lock import LOCK_NAME, RunLock

HOLD = """
import sys
from pathlib import Path
from tuneforge.run.lock import RunLock
RunLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def held(folder: Path) -> Iterator[subprocess.Popen]:
    """Another live process holding `folder`'s run lock, for as long as the block runs."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.communicate("")  # its stdin closes: it ends, and the kernel lets go of the lock


def test_a_lock_is_taken_and_given_back(tmp_path):
    with RunLock(tmp_path) as lock:
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder == {"pid": os.getpid(), "host": socket.gethostname()}
        assert lock.path.is_file()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_folder_a_live_process_holds_is_refused_with_its_pid(tmp_path):
    with held(tmp_path) as holder:
        message = f"is held by a `tuneforge train` that is still running \\(pid {holder.pid} on "
        with pytest.raises(OutputError, match=message):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # the holder is gone: nothing is refused
        pass


def test_a_stale_lock_is_taken_over_and_said(tmp_path, caplog):
    stale = {"pid": 2**22 + 12345, "host": socket.gethostname()}  # no such process
    (tmp_path / LOCK_NAME).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING), RunLock(tmp_path):
        mine = json.loads((tmp_path / LOCK_NAME).read_text())
    assert mine["pid"] == os.getpid()
    assert f"from a run that is no longer running (pid {stale['pid']}" in caplog.text


def test_an_unwritable_folder_is_an_os_error_naming_the_lock(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError) as ex:
        RunLock(tmp_path / "file" / "run").acquire()
    assert str(tmp_path / "file" / "run") in ex.value.filename


def test_the_other_processes_of_a_distributed_run_share_the_first_ones_folder(
    tmp_path, monkeypatch
):
    with RunLock(tmp_path):
        monkeypatch.setenv("LOCAL_RANK", "1")
        with RunLock(tmp_path):
            pass
        assert (tmp_path / LOCK_NAME).is_file()  # still the first process's
