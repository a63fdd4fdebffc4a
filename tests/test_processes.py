"""How a finished `tuneforge` command ends its process: everything a normal exit does but the
interpreter's teardown, with the command's exit status."""

import os
import pstats
import subprocess
import sys
import textwrap

import pytest

from tuneforge.cli.main import exit_status
from tuneforge.processes import alive

# A child that leaves work for each step of a normal exit: a thread that is not a daemon still
# writing, an atexit handler, and output waiting in a buffer; then exits without teardown.
CHILD = """
import atexit, sys, threading, time
from pathlib import Path
from tuneforge.processes import exit_without_teardown

folder = Path(sys.argv[1])
started = threading.Event()

def write_late():
    started.set()
    time.sleep(0.2)  # the main thread reaches the exit meanwhile
    (folder / "thread.txt").write_text("written")

threading.Thread(target=write_late).start()
started.wait()
atexit.register(lambda: (folder / "atexit.txt").write_text("ran"))
sys.stdout.write("buffered out")
sys.stderr.write("buffered err")
exit_without_teardown(int(sys.argv[2]))
"""


@pytest.mark.parametrize("code", [0, 3])
def test_exit_without_teardown_does_what_a_normal_exit_does(tmp_path, code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(tmp_path), str(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
    assert (result.stdout, result.stderr) == ("buffered out", "buffered err")
    assert (tmp_path / "thread.txt").read_text() == "written"
    assert (tmp_path / "atexit.txt").read_text() == "ran"


@pytest.mark.parametrize(("raised", "status"), [(None, 0), (0, 0), (2, 2), ("a message", 1)])
def test_exit_status_is_the_interpreters(raised, status, capsys):
    assert exit_status(SystemExit(raised)) == status
    assert capsys.readouterr().err == ("a message\n" if isinstance(raised, str) else "")


def test_alive_tells_a_running_process_from_a_finished_one():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not alive(child.pid)
    assert alive(os.getpid())


def test_a_profiled_command_still_writes_its_profile(tmp_path):
    """cProfile writes after the program returns: the program ends as usual under it."""
    profile = tmp_path / "run.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "tuneforge", "--version"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "tuneforge " in result.stdout
    assert pstats.Stats(str(profile)).total_calls > 0
