"""Split a model's trainable parameters into optimizer groups: with and without weight decay,
and, for layer-wise learning rates, by the learning-rate scale of their layer."""

from torch import nn

# Modules whose weights are scales, shifts or lookups: decaying them toward zero only hurts.
NO_DECAY_MODULES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.Embedding)


def decay_groups(
    model: nn.Module, lr_scales: dict[str, float] | None = None, base_lr: float | None = None
) -> list[dict]:
    """Optimizer param groups `decay` (weights of Linear, Conv, ...) and `no_decay` (biases,
    norms, embeddings). Frozen parameters are left out. The groups are named, so the
    learning-rate monitor logs `lr-AdamW/decay` and `lr-AdamW/no_decay`.

    With `lr_scales` (parameter name -> scale, from layer-wise LR decay) each of the two is split
    by scale and gets `lr = base_lr * scale`, named like `decay@0.5`: torch's and Lightning's
    schedulers then scale every group's own rate.
    """
    no_decay_ids = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if isinstance(module, NO_DECAY_MODULES) or name.endswith("bias") or param.ndim <= 1:
                no_decay_ids.add(id(param))
    scales = lr_scales or {}
    buckets: dict[tuple[float, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            key = (scales.get(name, 1.0), id(param) in no_decay_ids)
            buckets.setdefault(key, []).append(param)
    groups = []
    for (scale, no_decay), params in sorted(buckets.items()):
        group: dict = {"params": params, "name": "no_decay" if no_decay else "decay"}
        if no_decay:
            group["weight_decay"] = 0.0
        if scales:
            group["name"] += f"@{scale:.3g}"
            if base_lr is not None:
                group["lr"] = base_lr * scale
        groups.append(group)
    return groups
