"""Split a model's trainable parameters into groups with and without weight decay."""

from torch import nn

# Modules whose weights are scales, shifts or lookups: decaying them toward zero only hurts.
NO_DECAY_MODULES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.Embedding)


def decay_groups(model: nn.Module) -> list[dict]:
    """Two optimizer param groups: `decay` (weights of Linear, Conv, ...) and `no_decay` (biases,
    norms, embeddings). Frozen parameters are left out. The groups are named, so the learning-rate
    monitor logs `lr-AdamW/decay` and `lr-AdamW/no_decay`.
    """
    no_decay_ids = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, NO_DECAY_MODULES) or name.endswith("bias") or param.ndim <= 1:
                no_decay_ids.add(id(param))
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if id(param) in no_decay_ids else decay).append(param)
    groups = [{"params": decay, "name": "decay"}, {"params": no_decay, "name": "no_decay"}]
    for group in groups[1:]:
        group["weight_decay"] = 0.0
    return [group for group in groups if group["params"]]
