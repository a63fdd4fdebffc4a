"""Store the run's resolved config in every checkpoint, so eval and predict can rebuild the run."""

from typing import Any

import lightning as L

from tuneforge.checkpoint_keys import CHECKPOINT_KEY


class StoreRunConfig(L.Callback):
    """Adds `{"config": ..., "version": ...}` under `checkpoint["tuneforge"]`.

    The config is plain data (dicts, lists, numbers, strings), so the checkpoint still loads with
    `torch.load(..., weights_only=True)`.
    """

    def __init__(self, config: dict[str, Any], version: str) -> None:
        self.config = config
        self.version = version

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {"config": self.config, "version": self.version}
