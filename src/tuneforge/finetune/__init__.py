"""Fine-tuning: start a model from pretrained weights, and say exactly what was loaded.

`load_pretrained(model, source)` reads weights from a tuneforge/Lightning checkpoint, a
safetensors file, a torch state dict or a Hugging Face model folder, matches their names to the
model's, loads what fits, and returns a `LoadReport` (JSON for the run folder, a rich table for
the terminal, one line for the log). Plain torch: nothing here reads a config or imports
Lightning, so it works on any `nn.Module` in a notebook too.

`add_lora(model, rank, alpha)` wraps a model's layers in peft's LoRA layers, and `merge_lora`
folds them back into plain layers for export.
"""

from tuneforge.finetune.loading import load_pretrained
from tuneforge.finetune.lora import add_lora, merge_lora
from tuneforge.finetune.report import LoadReport
from tuneforge.finetune.weights import WeightsError, read_weights

__all__ = [
    "LoadReport",
    "WeightsError",
    "add_lora",
    "load_pretrained",
    "merge_lora",
    "read_weights",
]
