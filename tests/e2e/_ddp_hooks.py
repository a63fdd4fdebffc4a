"""A callback that only the DDP tests add to a real `tuneforge train`
(+callbacks.samples._target_=...), to write down which samples each rank read."""

import hashlib
import json
from pathlib import Path

import lightning as L


def _fingerprints(images) -> list[str]:
    """One short hash per image of a batch (the digits set holds no two equal images)."""
    return [hashlib.sha1(image.numpy().tobytes()).hexdigest()[:16] for image in images]


class RecordSamples(L.Callback):
    """Writes samples_rank{R}.json in the run folder: the fingerprints of the images of every
    training batch this rank trained on, and of every image of the last validation and of the
    test it evaluated."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {"train": [], "val": [], "test": []}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen["train"] += _fingerprints(batch[0])

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.seen["val"] = []

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if not trainer.sanity_checking:
            self.seen["val"] += _fingerprints(batch[0])

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self.seen["test"] += _fingerprints(batch[0])

    def on_test_end(self, trainer, pl_module) -> None:
        path = Path(trainer.default_root_dir) / f"samples_rank{trainer.global_rank}.json"
        path.write_text(json.dumps(self.seen))
