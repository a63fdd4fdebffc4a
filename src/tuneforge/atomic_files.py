"""Write a file whole or not at all: to a temporary file in the same folder, flushed to disk,
then renamed over the target.

At the bottom of the package, so that every layer that writes into a run folder (the commands,
the callbacks, a dataset's cache) writes alike. A rename replaces a symbolic link at the target
rather than writing through it.
"""

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# What a write that was killed leaves beside its target: `.NAME.RANDOM.tmp`.
UNFINISHED = ".*.tmp"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to write, for a library that writes by file name: when the
    block ends it is flushed to disk and renamed to `path`; when the block raises it is removed.

    A reader sees the old file or the new one, never half of one; a crash leaves no `path`, and
    a kill leaves at most a temporary file (`UNFINISHED`). An OSError (a full disk, a read-only
    folder) names `path`.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; artifacts are not
        yield Path(tmp)
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except BaseException as ex:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(ex, OSError) and ex.filename is None:
            raise OSError(ex.errno, ex.strerror, str(path)) from ex
        raise


def _sync_folder(folder: Path) -> None:
    """Flush the folder's entry for a renamed file, so the rename outlives a power cut too."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Call `write` on a temporary file beside `path`, then put it in place (`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb" if binary else "w") as handle:
        write(handle)
