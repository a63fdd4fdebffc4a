"""Weight layouts other than the model's: convert the ones we know, refuse the ones we only see.

A name and a shape that agree do not make a tensor mean the same thing. GPT-2's `Conv1D` stores a
projection as (in, out) where `nn.Linear` stores (out, in): the non-square ones show it in their
shape, but a square one fits either way and computes something else. So a source in a layout we
know how to convert (GPT-2's, the table in `tuneforge.models.gpt_hf`) is converted before its
names are matched, and a source that stores tensors transposed against the model without a known
conversion is refused whole, since the square tensors beside them cannot be told apart.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from tuneforge.finetune.report import LoadReport
from tuneforge.finetune.weights import WeightsError
from tuneforge.models.gpt_hf import (
    CONV1D,
    MASK_BUFFERS,
    QKV,
    gpt_state_dict_from_hf_gpt2,
    is_hf_gpt2,
)

QKV_MODULE = QKV.removesuffix(".weight")
# Rotary frequencies that older files of transformers' Llama hold in each layer; not weights.
ROTARY_BUFFER = ".rotary_emb.inv_freq"


@dataclass
class Conversion:
    """What was done to a source's tensors before matching, for the load report."""

    layout: str = ""  # the source's layout, for people; empty when it is the model's own
    transposed: list[str] = field(default_factory=list)  # names after conversion
    dropped: list[str] = field(default_factory=list)  # source names of constants, not weights


def to_model_layout(
    weights: dict[str, torch.Tensor], model: nn.Module
) -> tuple[dict[str, torch.Tensor], Conversion]:
    """`weights` in the model's layout, and what that took. GPT-2's Conv1D weights become
    nn.Linear's only for a model that holds its attention projections as nn.Linear (our GPT);
    a model of Conv1D layers (transformers' own GPT-2) takes them as they are. A Llama's rotary
    frequencies are left out: our Llama computes them from its config."""
    rotary = [name for name in weights if name.endswith(ROTARY_BUFFER)]
    if rotary:
        kept = {name: tensor for name, tensor in weights.items() if name not in rotary}
        return kept, Conversion(dropped=rotary)
    linear = any(
        name.endswith(QKV_MODULE) and isinstance(module, nn.Linear)
        for name, module in model.named_modules()
    )
    if not (linear and is_hf_gpt2(weights)):
        return weights, Conversion()
    ours = gpt_state_dict_from_hf_gpt2(weights)
    return ours, Conversion(
        layout="Hugging Face GPT-2: Conv1D weights transposed to nn.Linear's (out, in)",
        transposed=[name for name in ours if name.endswith(CONV1D)],
        dropped=[name for name in weights if name.endswith(MASK_BUFFERS)],
    )


def refuse_transposed(report: LoadReport, head_keys: set[str]) -> None:
    """Refuse a source whose tensors are the model's transposed: a layout (Conv1D's) the load
    does not convert. The head is left out: resizing it may swap its sizes by chance.

    Raises:
        WeightsError: naming the first such tensor, with the report.
    """
    flipped = [
        (name, theirs, ours)
        for name, (theirs, ours) in report.mismatched.items()
        if len(ours) == 2 and theirs == ours[::-1] and name not in head_keys
    ]
    if flipped:
        name, theirs, ours = flipped[0]
        raise WeightsError(
            f"weights '{report.source}' store {len(flipped)} tensors transposed against the "
            f"model (first: {name} is {theirs} there, {ours} here), as Conv1D layers do, so "
            "their square ones cannot be told by shape and none was loaded; transpose them to "
            "nn.Linear's (out, in) layout first",
            report=report,
        )
