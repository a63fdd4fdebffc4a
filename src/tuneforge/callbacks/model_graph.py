"""Show what the network is: its graph, traced once from the first training batch, in
TensorBoard's Graphs tab."""

import logging
import warnings
from typing import Any

import lightning as L
import torch

from tuneforge.callbacks._tensorboard import batch_inputs, tensorboard_writer

log = logging.getLogger(__name__)


class ModelGraph(L.Callback):
    """Trace the model on `samples` inputs of the first training batch of a fresh run and
    write its graph.

    The plain model is traced, not the LightningModule around it, so the graph shows the
    network as a user builds it in a notebook. Tracing is best effort: a model that
    `torch.jit.trace` cannot follow (data-dependent control flow, a compiled model) is named in
    one warning and training goes on. A resumed run has its graph already and draws none.

    Args:
        samples: inputs traced; the graph is the same for any batch size, so few are enough.
    """

    def __init__(self, samples: int = 2) -> None:
        self.samples = samples

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step > 0 or batch_idx > 0:
            return
        writer = tensorboard_writer(trainer)
        inputs = batch_inputs(batch)
        if writer is None or not isinstance(inputs, torch.Tensor):
            return
        model = getattr(pl_module, "model", pl_module)
        # Tracing puts the model in eval mode and back in train mode, which would wake the
        # BatchNorm layers fine-tuning keeps frozen: each module gets its own mode back.
        modes = {module: module.training for module in model.modules()}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's warnings speak to model authors
                writer.add_graph(model, inputs[: self.samples])
        except Exception as ex:  # a graph not drawn must never stop training
            log.warning("The model graph is not drawn: tracing failed (%s)", _first_line(ex))
        finally:
            for module, training in modes.items():
                module.training = training


def _first_line(ex: Exception) -> str:
    text = str(ex).strip()
    return text.splitlines()[0] if text else type(ex).__name__
