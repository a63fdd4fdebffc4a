"""Show what the network is: its graph, traced once from the first training batch, in
TensorBoard's Graphs tab."""

import logging
import warnings
from typing import Any

import lightning as L
import torch

from tuneforge.callbacks._tensorboard import FirstTrainingBatchView

log = logging.getLogger(__name__)


class ModelGraph(FirstTrainingBatchView):
    """Trace the model on `samples` inputs of the first training batch of a fresh run and
    write its graph.

    The plain model is traced, not the LightningModule around it, so the graph shows the
    network as a user builds it in a notebook. Tracing is best effort: a model that
    `torch.jit.trace` cannot follow (data-dependent control flow, a compiled model) is named in
    one warning and training goes on. A resumed run has its graph already and draws none.

    Args:
        samples: inputs traced; the graph is the same for any batch size, so few are enough.
    """

    def __init__(self, samples: int = 1) -> None:
        self.samples = samples

    def draw(self, writer: Any, pl_module: L.LightningModule, inputs: Any) -> None:
        if not isinstance(inputs, torch.Tensor):
            return
        model = getattr(pl_module, "model", pl_module)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the tracer's warnings speak to model authors
                traced = _trace(model, inputs[: self.samples])
                writer.add_graph(traced, inputs[: self.samples])  # a traced model is kept as is
        except Exception as ex:  # a graph not drawn must never stop training
            log.warning("The model graph is not drawn: tracing failed (%s)", _first_line(ex))


def _trace(model: torch.nn.Module, inputs: torch.Tensor) -> torch.jit.ScriptModule:
    """`model` traced in eval mode, without the tracer's check (`add_graph` would check it,
    running the model three more times: most of the cost on a large model).

    Every module gets its own mode back afterwards: fine-tuning keeps some BatchNorm layers in
    eval mode while the rest trains, which a plain `model.train()` would undo.
    """
    modes = {module: module.training for module in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            return torch.jit.trace(model, inputs, check_trace=False)
    finally:
        for module, training in modes.items():
            module.training = training


def _first_line(ex: Exception) -> str:
    text = str(ex).strip()
    return text.splitlines()[0] if text else type(ex).__name__
