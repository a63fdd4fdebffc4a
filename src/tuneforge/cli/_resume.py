"""`resume=auto|PATH|null`: which checkpoint a training run continues from."""

import logging
from pathlib import Path
from typing import Any

from tuneforge.cli._checkpoint import newest_readable, read_checkpoint
from tuneforge.cli._files import UNFINISHED
from tuneforge.cli.errors import CheckpointError

log = logging.getLogger(__name__)

FIX = (
    "give resume a .ckpt of this model, or a run folder (its newest good checkpoint is used); "
    "resume=null starts afresh"
)


def _remove_unfinished(folder: Path) -> None:
    """Delete what saves that were killed left behind in this run's own folder: this run holds
    it now, so no other process is writing them."""
    left = sorted(folder.glob(UNFINISHED)) if folder.is_dir() else []
    for path in left:
        path.unlink(missing_ok=True)
    if left:
        log.info("Removed %d unfinished checkpoint file(s) that a killed run left", len(left))


def _newest(folder: Path, key: str) -> tuple[Path, dict[str, Any]] | None:
    checkpoints = folder / "checkpoints"
    found = newest_readable(checkpoints)
    if found is None and any(checkpoints.glob("*.ckpt")):
        raise CheckpointError(
            f"{key}: no checkpoint in '{checkpoints}' is readable (all truncated or damaged); "
            "start afresh with resume=null and another hydra.run.dir"
        )
    return found


def to_resume(resume: str | None, run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint that `resume` names, read, or None to train from the start.

    `auto` is the newest good checkpoint of `run_dir` (a run folder used again through
    `hydra.run.dir`), or None where it has none yet. A folder is a run folder, whose newest good
    checkpoint is taken; a file is taken as it is.

    Raises:
        CheckpointError: for a missing, unreadable or foreign checkpoint: one line that names
            it and, where there is one, the newest good checkpoint beside it.
    """
    if resume is None:
        return None
    if resume == "auto":
        _remove_unfinished(run_dir / "checkpoints")
        found = _newest(run_dir, "resume=auto")
        if found is None:
            log.info("resume=auto: %s has no checkpoint yet; training from the start", run_dir)
        return found
    path = Path(resume)
    if path.is_dir():
        found = _newest(path, f"resume={resume}")
        if found is None:
            raise CheckpointError(f"resume='{path}' is a folder with no checkpoints/*.ckpt; {FIX}")
        return found
    return path, read_checkpoint(path, key="resume", fix=FIX)


def check_fits(task: Any, checkpoint: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint whose weights do not fit this run's model, before Lightning fails on
    it halfway through restoring.

    Raises:
        CheckpointError: naming the first parameter that differs.
    """
    mine = {name: tuple(value.shape) for name, value in task.state_dict().items()}
    theirs = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items()}
    differ = sorted(set(mine) ^ set(theirs)) or [n for n in mine if mine[n] != theirs[n]]
    if differ:
        name = differ[0]
        shapes = f"{theirs.get(name, 'absent')} there, {mine.get(name, 'absent')} here"
        raise CheckpointError(
            f"resume checkpoint '{path}' does not fit this run's model ({name}: {shapes}); "
            "resume with the config that wrote it, or start afresh with resume=null"
        )


def fit_from(
    resumed: tuple[Path, dict[str, Any]] | None, task: Any, loggers: list[Any], run_dir: Path
) -> str | None:
    """The `ckpt_path` for `Trainer.fit`: the checkpoint `to_resume` found, checked against
    this run's model and named in the log, or None to train from the start."""
    if resumed is None:
        continue_curves(loggers, 0)  # a folder used again shows this run's curves alone
        return None
    path, checkpoint = resumed
    check_fits(task, checkpoint, path)
    continue_curves(loggers, checkpoint.get("global_step", 0))
    shown = path.relative_to(run_dir) if path.is_relative_to(run_dir) else path
    epoch, step = checkpoint.get("epoch", "?"), checkpoint.get("global_step", "?")
    log.info("Resuming from %s (epoch %s, step %s)", shown, epoch, step)
    return str(path)


def continue_curves(loggers: list[Any], step: int) -> None:
    """Make TensorBoard drop what was logged in this folder at `step` and after, which this run
    logs again (a killed run's steps after its checkpoint): TensorBoardLogger hands its keyword
    arguments to the SummaryWriter, whose `purge_step` does that."""
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger._kwargs.setdefault("purge_step", step)  # read when the writer is made
