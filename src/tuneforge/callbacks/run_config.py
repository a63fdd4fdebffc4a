"""Store the run's resolved config in every checkpoint, so eval and predict can rebuild the run."""

from typing import Any

from tuneforge.callbacks._base import Callback
from tuneforge.checkpoint_format import CHECKPOINT_KEY


class StoreRunConfig(Callback):
    """Adds `{"config": ..., "version": ..., "data_spec": ...}` under `checkpoint["tuneforge"]`.

    `data_spec` holds what the data told the model (vocabulary size, input shape, ...), so a
    model can be rebuilt from the checkpoint alone, without its data (`tuneforge generate`).
    All of it is plain data (dicts, lists, numbers, strings), so the checkpoint still loads with
    `torch.load(..., weights_only=True)`.
    """

    def __init__(self, config: dict[str, Any], version: str, data_spec: dict[str, Any]) -> None:
        self.config = config
        self.version = version
        self.data_spec = data_spec

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "config": self.config,
            "version": self.version,
            "data_spec": self.data_spec,
        }
