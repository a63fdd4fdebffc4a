"""A run's own files: JSON written whole (`tuneforge.atomic_files`), and logs appended to.

A rename replaces a symbolic link at the target rather than writing through it, and a file opened
to append (`open_to_append`) refuses one: a run never writes outside its folder through a link.
"""

import json
import os
from pathlib import Path
from typing import IO, Any

from tuneforge.atomic_files import write_atomic


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, lambda handle: json.dump(data, handle, indent=2, sort_keys=True))


def open_to_append(path: Path, encoding: str | None = None) -> IO[str]:
    """`path` opened to append text (created if missing), refusing a symbolic link at `path`
    (OSError ELOOP) where `open` would follow it and append to the file it names."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as ex:
        raise OSError(ex.errno, ex.strerror, str(path)) from ex
    return os.fdopen(fd, "a", encoding=encoding)
