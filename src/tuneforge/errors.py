"""Errors a user can fix, each printed as one line with its own exit code (fairseq2's way).

Anything else is a bug in tuneforge or a library: it is printed as one line too, with the hint to
set HYDRA_FULL_ERROR=1 for the traceback (the full traceback always goes to the run's log).
"""

EXIT_BUG = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_CHECKPOINT = 4
EXIT_OUTPUT = 5
EXIT_DIVERGED = 6
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM, what SLURM, Kubernetes and `kill` send


class TuneforgeError(Exception):
    """An error whose message says what is wrong and how to fix it."""

    exit_code = EXIT_BUG

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


class ConfigError(TuneforgeError):
    """The composed config cannot run: unknown keys, wrong types, impossible values."""

    exit_code = EXIT_CONFIG


class DataError(TuneforgeError):
    """Data is missing, empty or not in the shape the run needs."""

    exit_code = EXIT_DATA


class CheckpointError(TuneforgeError):
    """A checkpoint does not exist, cannot be read, or does not fit the run."""

    exit_code = EXIT_CHECKPOINT


class OutputError(TuneforgeError):
    """The run folder cannot be written: another live run holds it, the disk is full, or the
    folder is read-only."""

    exit_code = EXIT_OUTPUT


class Interrupted(TuneforgeError):
    """A signal stopped the run before it finished; `resume=auto` continues it. A sweep stops
    with it, not only its trial.

    Args:
        line: where it stopped, and how to continue.
        exit_code: EXIT_TERMINATED or EXIT_INTERRUPTED.
    """

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.exit_code = exit_code


class TrialFailed(TuneforgeError):
    """A sweep's trial failed: the sweeper marks it failed in the study and goes on."""
