"""Whether a process of this machine still runs: asked by the run lock (is a lock file's holder
alive?) and by a sweep's workers (has a trial's worker stopped?). Its own module so that both
layers ask the same question the same way, and neither imports the other."""

import os


def alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine. One that runs under another user cannot be
    signalled, but runs all the same."""
    try:
        os.kill(pid, 0)  # signal 0 checks without signalling
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
