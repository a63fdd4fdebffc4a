"""One live `tuneforge train` per run folder: a lock file naming the process that holds it.

The lock is an advisory `flock` on `RUN_DIR/.tuneforge.lock`, which the kernel lets go of when its
process dies, however it dies: a lock file left by a killed run is stale, and the next run takes
it over and says so. The file holds the holder's pid and host, for the message that refuses a
second run. In a distributed run the first process holds the folder for all of them.
"""

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from tuneforge.errors import OutputError
from tuneforge.processes import alive

try:
    import fcntl
except ImportError:  # Windows: a holder is alive while its pid is
    fcntl = None

log = logging.getLogger(__name__)

LOCK_NAME = ".tuneforge.lock"
# Where launchers (Lightning's, torchrun, SLURM) tell a process its place in a distributed run.
RANKS = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def first_process() -> bool:
    """Whether this is a run's only process, or the first of a distributed run's."""
    return all(os.environ.get(name, "0") in ("", "0") for name in RANKS)


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _refusal(run_dir: Path, holder: dict[str, Any]) -> OutputError:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    return OutputError(
        f"run folder '{run_dir}' is held by a `tuneforge train` that is still running ({who}); "
        "wait for it to end, or choose another folder with hydra.run.dir=DIR"
    )


def _pid_alive(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return bool(holder)  # another machine's run cannot be checked: taken as alive
    return alive(holder["pid"])


class RunLock:
    """Holds `run_dir` for this process from `acquire()` to `release()` (or to its death).

    Args:
        run_dir: the run folder.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or take over a stale one.

        Raises:
            OutputError: when a live run holds the folder, or the folder cannot be written.
        """
        if not first_process():
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as ex:
            raise OSError(ex.errno, ex.strerror, str(self.path)) from ex
        holder = _holder(self.path)
        if not self._lock(fd, holder):
            os.close(fd)
            raise _refusal(self.run_dir, holder)
        self._fd = fd
        if holder:
            log.warning(
                "Took over the lock of run folder %s from a run that is no longer running "
                "(pid %s on %s)",
                self.run_dir,
                holder.get("pid", "?"),
                holder.get("host", "?"),
            )
        mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, mine.encode(), 0)
            os.fsync(fd)
        except OSError as ex:  # a full disk: let the folder go as it was, and name the file
            self.release()
            raise OSError(ex.errno, ex.strerror, str(self.path)) from ex

    @staticmethod
    def _lock(fd: int, holder: dict[str, Any]) -> bool:
        if fcntl is None:
            return holder.get("pid") == os.getpid() or not _pid_alive(holder)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        """Let the folder go: the lock file is removed, and a later run starts without a note."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
