"""A tuneforge checkpoint on disk: where a run folder keeps it, where tuneforge keeps its own data
inside it, and the one way it is read, as data only.

`checkpoint["tuneforge"]` holds `{"config": <resolved run config>, "version": <tuneforge version>}`.
At the bottom of the package, so that every reader of checkpoints (the commands, fine-tuning,
the report) reads them alike, without importing Lightning; torch loads only when one is read.
"""

import pickle
from pathlib import Path
from typing import Any

CHECKPOINT_KEY = "tuneforge"
# A run folder's checkpoints (conf/callbacks/default.yaml), the best (by the monitored metric)
# preferred to the last one written.
CHECKPOINTS = "checkpoints"
RUN_CHECKPOINTS = ("best.ckpt", "last.ckpt")


class NotLoaded(ValueError):
    """A file that `load_safely` did not load. The message is the quoted path and why, for a
    caller to put its own key before and its fix after.

    Attributes:
        holds_code: the file is a torch file that would unpickle code, so it was refused; else it
            is not a torch file at all (truncated, or something else).
    """

    def __init__(self, path: Path, holds_code: bool) -> None:
        why = (
            "holds pickled code and was not loaded (only tensors and plain data are read)"
            if holds_code
            else "is not a readable checkpoint (truncated, or not a torch file)"
        )
        super().__init__(f"'{path}' {why}")
        self.holds_code = holds_code


def load_safely(path: str | Path, mmap: bool = False) -> Any:
    """What the torch file at `path` holds, on the CPU, loaded with `weights_only=True` so that no
    code is unpickled.

    Args:
        path: a torch file (a checkpoint, a state dict).
        mmap: map the file instead of reading it, for a caller that reads a small part of it.

    Raises:
        NotLoaded: when the file holds pickled code, or is not a readable torch file.
    """
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as ex:  # torch.load fails on foreign bytes in many ways
        holds_code = isinstance(ex, pickle.UnpicklingError) and "Unsupported global" in str(ex)
        raise NotLoaded(Path(path), holds_code) from ex


def run_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint of a training run's folder: its best, else its last; None for neither."""
    checkpoints = Path(folder) / CHECKPOINTS
    return next((checkpoints / n for n in RUN_CHECKPOINTS if (checkpoints / n).is_file()), None)
