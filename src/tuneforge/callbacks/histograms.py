"""How weights and gradients evolve: their histograms in TensorBoard's Histograms and
Distributions tabs. Off by default: it costs a pass over every parameter each time it logs."""

import lightning as L
from torch.optim import Optimizer

from tuneforge.callbacks._base import Callback
from tuneforge.callbacks._tensorboard import tensorboard_writer


class WeightHistograms(Callback):
    """Every `every_n_steps` optimizer steps, `weights/NAME` and `gradients/NAME` for each
    trainable parameter of the model; the gradients as backward left them (unscaled under mixed
    precision, before clipping).

    Args:
        every_n_steps: optimizer steps between two sets of histograms.
    """

    def __init__(self, every_n_steps: int = 100) -> None:
        self.every_n_steps = every_n_steps

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        step = trainer.global_step
        if step % self.every_n_steps:
            return
        writer = tensorboard_writer(trainer)
        if writer is None:
            return
        model = getattr(pl_module, "model", pl_module)
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            writer.add_histogram(f"weights/{name}", parameter.detach(), step)
            if parameter.grad is not None:
                writer.add_histogram(f"gradients/{name}", parameter.grad.detach(), step)
