"""Fine-tuning: start a model from pretrained weights, and say exactly what was loaded.

`load_pretrained(model, source)` reads weights from a tuneforge/Lightning checkpoint, a
safetensors file, a torch state dict or a Hugging Face model folder, matches their names to the
model's, loads what fits, and returns a `LoadReport` (JSON for the run folder, a rich table for
the terminal, one line for the log). Plain torch: nothing here reads a config or imports
Lightning, so it works on any `nn.Module` in a notebook too.

`add_lora(model, rank, alpha)` wraps a model's layers in peft's LoRA layers, and `merge_lora`
folds them back into plain layers for export.

The names below load on first use, so that the config check reads `lora_bounds` without torch.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuneforge.finetune.loading import load_pretrained
    from tuneforge.finetune.lora import add_lora, merge_lora
    from tuneforge.finetune.report import LoadReport
    from tuneforge.finetune.weights import WeightsError, read_weights

# Each name's module in this package.
HOMES = {
    "LoadReport": "report",
    "WeightsError": "weights",
    "add_lora": "lora",
    "load_pretrained": "loading",
    "merge_lora": "lora",
    "read_weights": "weights",
}

__all__ = [
    "LoadReport",
    "WeightsError",
    "add_lora",
    "load_pretrained",
    "merge_lora",
    "read_weights",
]


def __getattr__(name: str) -> Any:
    """`tuneforge.finetune.add_lora` and the rest, imported from their module when first asked."""
    if name in HOMES:
        return getattr(import_module(f"{__name__}.{HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
