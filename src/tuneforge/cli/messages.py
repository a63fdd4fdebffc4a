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
from typing import TYPE_CHECKING, Any

from tuneforge.errors import (
    EXIT_BUG,
    EXIT_CONFIG,
    EXIT_DIVERGED,
    EXIT_OUTPUT,
    TuneforgeError,
)

if TYPE_CHECKING:  # Hydra's errors load only when one is to be described
    from tuneforge.cli.hydra_errors import Command

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


def unwritable(ex: BaseException) -> bool:
    """Whether `ex` is a full disk, a used-up quota or a folder that cannot be written."""
    return _storage_error(ex) is not None


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


def _file_being_written(ex: OSError) -> str | None:
    """The file that `ex` failed to write, where it names none (a full disk fails a buffered
    write when the file is flushed, and that error carries no name): the file open for writing
    in the innermost frame of its traceback that holds one, as `with open(path, "w") as f`."""
    import io

    frames = []
    tb = ex.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            named = isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str)
            if named and set(getattr(value, "mode", "")) & set("wax+"):
                return value.name
    return None


def failure(ex: BaseException, started: bool = True) -> tuple[list[str], int]:
    """The lines to print for `ex`, and the exit code. `started=False`: the run failed before
    its verb began (Hydra writing the run folder's .hydra/), so no checkpoint of it is kept."""
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
        if not started:
            fix = fix.removesuffix(f"; {KEPT}")
        filename = storage.filename or _file_being_written(storage)
        where = f"'{filename}'" if filename else "a file of the run"
        return [f"cannot write {where}: {what}; {fix}"], EXIT_OUTPUT
    first = next((line for line in str(ex).splitlines() if line.strip()), "")
    return [
        f"{type(ex).__name__}: {first} (unexpected; set HYDRA_FULL_ERROR=1 for the traceback)"
    ], EXIT_BUG


def _command(conf: Path, verb: str, args: list[str], bad_key: str | None) -> "Command":
    """The failed command, with every key (inner ones too: a mistyped group name is one of
    those) and the groups of the config composed without the bad override."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from tuneforge.cli.hydra_errors import Command

    if bad_key is None:
        return Command(verb, args)
    overrides = [a for a in args if "=" in a and a.split("=")[0].lstrip("+~") != bad_key]
    try:
        with initialize_config_dir(str(conf), version_base="1.3"):
            cfg = compose(verb, overrides=overrides, return_hydra_config=True)
            choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
    except Exception:
        return Command(verb, args)

    def walk(node: Any, prefix: str) -> list[str]:
        if not isinstance(node, dict):
            return []
        keys = [f"{prefix}{key}" for key in node]
        return keys + [k for key, value in node.items() for k in walk(value, f"{prefix}{key}.")]

    container = OmegaConf.to_container(cfg)
    container.pop("hydra")
    groups = sorted(g for g in choices if g != "hydra" and not g.startswith("hydra/"))
    return Command(verb, args, walk(container, ""), groups)


def _remove_unstarted_run(storage: OSError) -> None:
    """Remove the run folder that Hydra began when a full or read-only disk stopped it writing
    the folder's first files (RUN/.hydra/config.yaml, RUN/VERB.log): the folder holds the file."""
    filename = storage.filename or _file_being_written(storage)
    if filename is None:
        return
    for folder in Path(filename).parents:
        if (folder / ".hydra").is_dir():
            remove_if_unused(folder)
            return


def compose_failure(conf: Path, verb: str, args: list[str], ex: Exception) -> tuple[list[str], int]:
    """The line for an error that stopped `verb` before it ran: composing its config from `conf`
    with `args`, or Hydra writing its run folder (whatever that left is removed)."""
    from tuneforge.cli.hydra_errors import describe_hydra_error, overridden_key

    line = describe_hydra_error(ex, _command(conf, verb, args, overridden_key(ex)))
    if line is not None:
        return [line], EXIT_CONFIG
    storage = _storage_error(ex)
    if storage is not None:
        _remove_unstarted_run(storage)
    return failure(ex, started=False)
