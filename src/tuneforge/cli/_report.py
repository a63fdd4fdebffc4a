"""The error printer: every failure becomes lines of `error: ...` on stderr and an exit code.

Errors a user can fix (TuneforgeError, Hydra's composition errors) name the problem and the fix.
Anything else is a bug: one line with its type, and the traceback in the run's log file.
"""

import errno
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from tuneforge.cli.errors import (
    EXIT_BUG,
    EXIT_CONFIG,
    EXIT_DIVERGED,
    EXIT_OUTPUT,
    TuneforgeError,
)

log = logging.getLogger("tuneforge")


def user_wants_traceback() -> bool:
    return os.environ.get("TUNEFORGE_USER_FULL_ERROR") == "1"


def log_to_files(message: str, exc_info: BaseException) -> None:
    """Record the failure with its traceback in the run's log file, not on the console."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    record.exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def remove_if_unused(run_dir: Path) -> None:
    """Remove a run folder that holds only what Hydra wrote before the config was refused, and
    the folders above it that are left empty (outputs/VERB/), up to the working folder.

    A folder with anything else in it (a user's earlier run) is left alone.
    """
    if not run_dir.is_dir():
        return
    hydra_only = {".hydra", *(p.name for p in run_dir.glob("*.log"))}
    if {p.name for p in run_dir.iterdir()} <= hydra_only:
        logging.shutdown()  # close the log file before removing it
        shutil.rmtree(run_dir, ignore_errors=True)
        cwd = Path.cwd().resolve()
        for parent in run_dir.resolve().parents:
            if parent == cwd or cwd not in parent.parents:
                break
            try:
                parent.rmdir()  # only an empty folder goes
            except OSError:
                break


def fail(lines: list[str], code: int) -> None:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(code)


# OSErrors that the user fixes where the run writes, with what each means and the fix.
ELSEWHERE = "write the run to another folder with hydra.run.dir=DIR"
KEPT = "the checkpoints saved before it are kept: resume=auto continues from the newest"
STORAGE_ERRORS = {
    errno.ENOSPC: ("the disk is full", f"free some space, or {ELSEWHERE}; {KEPT}"),
    errno.EDQUOT: ("the disk quota is used up", f"free some space, or {ELSEWHERE}; {KEPT}"),
    errno.EROFS: ("the file system is read-only", ELSEWHERE),
    errno.EACCES: ("permission denied", ELSEWHERE),
    errno.EPERM: ("operation not permitted", ELSEWHERE),
}


def _storage_error(ex: BaseException | None) -> OSError | None:
    """The OSError of a full disk or a read-only folder in `ex` or what caused it, if any."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        if isinstance(ex, OSError) and ex.errno in STORAGE_ERRORS:
            return ex
        ex = ex.__cause__ or ex.__context__
    return None


def _cluster_error(ex: BaseException) -> str | None:
    """hydra/launcher=submitit_slurm's job that could not be submitted, as one line: sbatch
    missing, or its refusal (no cluster configured, an unknown partition, account or QOS)."""
    import re
    import subprocess

    fix = (
        "check that `sinfo` lists your cluster and set hydra.launcher.partition, account or qos "
        "as it needs, or run here with hydra/launcher=submitit_local"
    )
    if isinstance(ex, FileNotFoundError) and ex.filename in ("sbatch", "squeue", "sacct"):
        return f"SLURM's {ex.filename} is not installed on this machine; {fix}"
    utils = sys.modules.get("submitit.core.utils")
    if utils is None or not isinstance(ex, utils.FailedJobError):
        return None
    if not isinstance(ex.__cause__, subprocess.CalledProcessError):
        return None  # a job that ran and failed: its own error is in its log
    said = [re.split(r"(?:error|fatal): ", line, maxsplit=1)[-1] for line in str(ex).splitlines()]
    said = [line.strip() for line in said if line.strip() and "submission failed" not in line]
    why = said[-1] if said else "no reason given"
    return f"SLURM refused the job ({why}); {fix}"


def failure(ex: BaseException) -> tuple[list[str], int]:
    """The lines to print for `ex`, and the exit code."""
    if isinstance(ex, TuneforgeError):
        return ex.lines, ex.exit_code
    nonfinite = sys.modules.get("tuneforge.callbacks.nonfinite")  # loaded where it was raised
    if nonfinite is not None and isinstance(ex, nonfinite.NonFiniteLossError):
        return [str(ex)], EXIT_DIVERGED
    cluster = _cluster_error(ex)
    if cluster is not None:
        return [cluster], EXIT_CONFIG
    storage = _storage_error(ex)
    if storage is not None:
        what, fix = STORAGE_ERRORS[storage.errno]
        where = f"'{storage.filename}'" if storage.filename else "a file of the run"
        return [f"cannot write {where}: {what}; {fix}"], EXIT_OUTPUT
    first = next((line for line in str(ex).splitlines() if line.strip()), "")
    return [
        f"{type(ex).__name__}: {first} (unexpected; set HYDRA_FULL_ERROR=1 for the traceback)"
    ], EXIT_BUG


def _known_keys(conf: Path, verb: str, args: list[str], bad_key: str) -> list[str]:
    """Every key of the config composed without the bad override, for 'did you mean'."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    overrides = [a for a in args if "=" in a and a.split("=")[0].lstrip("+~") != bad_key]
    try:
        with initialize_config_dir(str(conf), version_base="1.3"):
            cfg = compose(verb, overrides=overrides)
    except Exception:
        return []

    def walk(node: Any, prefix: str) -> list[str]:
        """Every key under `node`, inner ones too (a mistyped group name is one of those)."""
        if not isinstance(node, dict):
            return []
        keys = [f"{prefix}{key}" for key in node]
        return keys + [k for key, value in node.items() for k in walk(value, f"{prefix}{key}.")]

    return walk(OmegaConf.to_container(cfg), "")


def compose_failure(conf: Path, verb: str, args: list[str], ex: Exception) -> tuple[list[str], int]:
    """The line for an error composing `verb`'s config from `conf` with `args`."""
    from tuneforge.cli._hydra_errors import describe_hydra_error, overridden_key

    key = overridden_key(ex)
    line = describe_hydra_error(ex, _known_keys(conf, verb, args, key) if key else [])
    return ([line], EXIT_CONFIG) if line is not None else failure(ex)
