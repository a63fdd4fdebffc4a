"""Read a tuneforge checkpoint safely, and the training config stored in it."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tuneforge.checkpoint_format import CHECKPOINT_KEY, NotLoaded, load_safely, run_checkpoint
from tuneforge.errors import CheckpointError
from tuneforge.run.stored_data import StoredDataError, check_stored_data

CKPT_PATH_FIX = (
    "point ckpt_path at checkpoints/best.ckpt or checkpoints/last.ckpt of a `tuneforge train` run"
)


def checkpoint_file(path: str | Path) -> Path:
    """`path` itself, or for a training run's folder its best checkpoint (else its last one)."""
    path = Path(path)
    if not path.is_dir():
        return path
    found = run_checkpoint(path)
    if found is None:
        raise CheckpointError(
            f"ckpt_path '{path}' is a folder with no checkpoints/best.ckpt or last.ckpt; "
            f"{CKPT_PATH_FIX}"
        )
    return found


def newest_readable(folder: Path, skip: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """The newest `.ckpt` in `folder` that loads as a tuneforge checkpoint (other than `skip`),
    with its contents; None when there is none. Files of a save that was killed (`.*.tmp`)
    never count: they do not end in .ckpt.
    """
    files = [p for p in folder.glob("*.ckpt") if p.is_file() and p != skip]
    # newest first; last.ckpt before a best.ckpt saved in the same instant
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name == "last.ckpt"), reverse=True)
    for candidate in files:
        try:
            checkpoint = load_safely(candidate)
        except NotLoaded:  # the next one, then
            continue
        if isinstance(checkpoint, dict) and CHECKPOINT_KEY in checkpoint:
            return candidate, checkpoint
    return None


def _instead(path: Path, key: str, fix: str) -> str:
    """What to use instead of the unreadable `path`: the newest readable checkpoint beside it."""
    found = newest_readable(path.parent, skip=path) if path.parent.is_dir() else None
    return f"the newest good one beside it is {key}={found[0]}" if found else fix


def read_checkpoint(
    path: str | Path, key: str = "ckpt_path", fix: str = CKPT_PATH_FIX
) -> dict[str, Any]:
    """The checkpoint at `path` (see `checkpoint_file`), loaded as data only (`load_safely`).

    Args:
        path: the checkpoint file, or a training run's folder.
        key: the config key that named it, for the messages.
        fix: what the messages tell to do instead.

    Raises:
        CheckpointError: when the file is missing, unreadable, holds code, or is not tuneforge's;
            an unreadable one's message names the newest good checkpoint beside it.
    """
    path = checkpoint_file(path)
    if not path.exists():
        raise CheckpointError(f"{key} '{path}' does not exist; {fix}")
    try:
        checkpoint = load_safely(path)
    except NotLoaded as ex:
        instead = fix if ex.holds_code else _instead(path, key, fix)
        raise CheckpointError(f"{key} {ex}; {instead}") from ex
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{key} '{path}' is a torch file but not a checkpoint; {fix}")
    if CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(
            f"{key} '{path}' holds no tuneforge config (not written by `tuneforge train`); {fix}"
        )
    try:
        check_stored_data(checkpoint)
    except StoredDataError as ex:
        raise CheckpointError(
            f"{key} '{path}' is not as `tuneforge train` writes it: {ex}; nothing was built. {fix}"
        ) from ex
    return checkpoint


def stored_config(checkpoint: dict[str, Any]) -> DictConfig:
    """The resolved training config that `tuneforge train` stored in the checkpoint."""
    return OmegaConf.create(checkpoint[CHECKPOINT_KEY]["config"])


def load_weights(task: Any, checkpoint: dict[str, Any], path: str | Path) -> None:
    """Load the checkpoint's weights into `task`, which must be built from the same config.

    Raises:
        CheckpointError: when the weights do not fit the task's model.
    """
    from tuneforge.tasks.causal_lm import restore_frozen_base

    restore_frozen_base(checkpoint, task.model, "model.", str(path))  # adapters alone: add base
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as ex:
        first = str(ex).splitlines()[0]
        raise CheckpointError(
            f"ckpt_path '{path}' does not fit the model built from its own config ({first}); "
            f"{CKPT_PATH_FIX}"
        ) from ex
