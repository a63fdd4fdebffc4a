"""Read a tuneforge checkpoint safely, and the training config stored in it."""

import pickle
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tuneforge.checkpoint_keys import CHECKPOINT_KEY
from tuneforge.cli.errors import CheckpointError

FIX = "point ckpt_path at checkpoints/best.ckpt or checkpoints/last.ckpt of a `tuneforge train` run"


def checkpoint_file(path: str | Path) -> Path:
    """`path` itself, or for a training run's folder its best checkpoint (else its last one)."""
    path = Path(path)
    if not path.is_dir():
        return path
    run_dir = path
    for name in ("best.ckpt", "last.ckpt"):
        if (run_dir / "checkpoints" / name).is_file():
            return run_dir / "checkpoints" / name
    raise CheckpointError(
        f"ckpt_path '{run_dir}' is a folder with no checkpoints/best.ckpt or last.ckpt; {FIX}"
    )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at `path` (see `checkpoint_file`), loaded as data only: `weights_only=True`,
    so no code is unpickled.

    Raises:
        CheckpointError: when the file is missing, unreadable, holds code, or is not tuneforge's.
    """
    import torch

    path = checkpoint_file(path)
    if not path.exists():
        raise CheckpointError(f"ckpt_path '{path}' does not exist; {FIX}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as ex:  # torch.load fails on foreign bytes in many ways
        if isinstance(ex, pickle.UnpicklingError) and "Unsupported global" in str(ex):
            raise CheckpointError(
                f"ckpt_path '{path}' holds pickled code and was not loaded (only tensors and plain "
                f"data are read); {FIX}"
            ) from ex
        raise CheckpointError(
            f"ckpt_path '{path}' is not a readable checkpoint (truncated, or not a torch file); "
            f"{FIX}"
        ) from ex
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"ckpt_path '{path}' is a torch file but not a checkpoint; {FIX}")
    if CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(
            f"ckpt_path '{path}' holds no tuneforge config (not written by `tuneforge train`); "
            f"{FIX}"
        )
    return checkpoint


def stored_config(checkpoint: dict[str, Any]) -> DictConfig:
    """The resolved training config that `tuneforge train` stored in the checkpoint."""
    return OmegaConf.create(checkpoint[CHECKPOINT_KEY]["config"])


def load_weights(task: Any, checkpoint: dict[str, Any], path: str | Path) -> None:
    """Load the checkpoint's weights into `task`, which must be built from the same config.

    Raises:
        CheckpointError: when the weights do not fit the task's model.
    """
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as ex:
        first = str(ex).splitlines()[0]
        raise CheckpointError(
            f"ckpt_path '{path}' does not fit the model built from its own config ({first}); {FIX}"
        ) from ex
