"""How fast a run trains: Lightning's ThroughputMonitor for tuneforge's batches, and peak memory.

Lightning's callback does the measuring (a moving window of step times) and knows the peak FLOPs
of common GPUs, so a model that counts its own FLOPs (the GPT's `flops_per_token`, through the
task's `flops_per_batch`) gets `train/device/mfu`. This adds what it leaves to the user: the
batch size and token count of our batches, and the process's peak memory.
"""

import resource
import sys
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ThroughputMonitor

from tuneforge.callbacks._base import Callback
from tuneforge.callbacks._batches import batch_inputs


def _batch_size(batch: Any) -> int:
    """Samples in a batch: the first dimension of its inputs (a tensor, or the first of a tuple)."""
    return int(batch_inputs(batch).shape[0])


def _tokens(batch: Any) -> int:
    """Tokens in a batch of token ids (padding included)."""
    return int(batch_inputs(batch).numel())


def peak_memory_gib(device: torch.device) -> float:
    """The most memory this process has held: allocated on a CUDA device, else resident."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


class Throughput(ThroughputMonitor, Callback):
    """Logs `train/device/samples_per_sec`, `train/device/batches_per_sec` (its inverse is the
    step time), `train/device/items_per_sec` (tokens, for data of token ids),
    `train/device/mfu` where both the model's FLOPs and the device's peak are known (no peak is
    known for a CPU), the same for validation and test, and `train/peak_memory_gib`, every
    `trainer.log_every_n_steps` steps once `window_size` batches have run.

    Args:
        window_size: batches the rates are averaged over.
    """

    def __init__(self, window_size: int = 50) -> None:
        super().__init__(batch_size_fn=_batch_size, window_size=window_size)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        spec = getattr(trainer.datamodule, "spec", None) or {}
        self.length_fn = _tokens if "vocab_size" in spec else None
        super().setup(trainer, pl_module, stage)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, *args)
        if trainer.global_step % trainer.log_every_n_steps == 0:
            peak = peak_memory_gib(trainer.strategy.root_device)
            pl_module.log("train/peak_memory_gib", peak, on_step=True, on_epoch=False)
