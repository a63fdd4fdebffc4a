"""Processes: whether one of this machine still runs, asked by the run lock (is a lock file's
holder alive?) and by a sweep's workers (has a trial's worker stopped?), so that both layers ask
the same question the same way; and how a finished command ends its own process."""

import atexit
import contextlib
import os
import sys
import threading


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


def exit_without_teardown(code: int) -> None:
    """End this process with status `code` as a normal exit would, less the interpreter's teardown.

    Freeing every module and object of torch, Lightning and all that torchmetrics imports takes
    over a second at exit (1.2 s here, 0.5 s for torch alone), more than some whole commands, to
    free memory the operating system takes back anyway. Everything else a normal exit does still
    happens, in its order: threads that are not daemons are waited for, the atexit handlers run
    (logging flushes its handlers, multiprocessing reaps its children, writers close), and the
    standard streams are flushed.
    """
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe: nothing to do
            stream.flush()
    os._exit(code)
