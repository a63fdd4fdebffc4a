"""A run stopped by SIGTERM or Ctrl-C: one line saying where, and that `resume=auto` continues it.

On SIGTERM (what SLURM, Kubernetes and `kill` send) Lightning's signal handler lets the running
batch finish, then its loops raise SIGTERMException, a SystemExit with no code: the process would
end with status 0 and no word. On Ctrl-C Lightning calls `sys.exit(1)`. Either run is as
resumable as one killed outright (its checkpoints are whole, callbacks/resume.py makes a resumed
run exact), so each becomes `Interrupted`, with the shell's exit status for the signal.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tuneforge.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Interrupted


def _interrupted(signal: str, exit_code: int, trainer: Any, run_dir: Path) -> Interrupted:
    return Interrupted(
        f"stopped by {signal} at epoch {trainer.current_epoch}, step {trainer.global_step}, "
        "before the run finished (no metrics.json); run the same command with resume=auto and "
        f"hydra.run.dir={run_dir} to continue it from its newest checkpoint",
        exit_code,
    )


@contextmanager
def stopped_by_signal(trainer: Any, run_dir: Path) -> Iterator[None]:
    """Turn the way Lightning ends `trainer`'s fit or test on SIGTERM or Ctrl-C into
    `Interrupted`.

    Raises:
        Interrupted: naming the epoch and step where the run stopped.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        yield
    except SIGTERMException as ex:
        raise _interrupted("SIGTERM", EXIT_TERMINATED, trainer, run_dir) from ex
    except SystemExit as ex:
        if not isinstance(ex.__context__, KeyboardInterrupt):  # Lightning's sys.exit(1)
            raise
        raise _interrupted("Ctrl-C", EXIT_INTERRUPTED, trainer, run_dir) from ex
