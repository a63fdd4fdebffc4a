"""How much of a pretrained model trains, and how fast: layer groups, freezing, layer-wise LR.

Everything here works from a model's layer groups, ordered from input to output with the
classifier head last. A backbone with timm's interface gives them through `group_matcher()`
(grouped by timm's own `group_parameters`); any other module is grouped by its top-level
children, in module order, so every nn.Module can be fine-tuned.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import nn

STRATEGIES = ("full", "linear_probe", "freeze", "llrd", "gradual_unfreeze", "lora")


def layer_groups(model: nn.Module) -> list[list[str]]:
    """Parameter names in groups from input to output; the last group holds the head."""
    if hasattr(model, "group_matcher"):
        from timm.models import group_parameters

        grouped = group_parameters(model, model.group_matcher(coarse=True))
        return [names for _, names in sorted(grouped.items())]
    groups: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        groups.setdefault(name.split(".", 1)[0], []).append(name)
    return list(groups.values())


@dataclass
class Plan:
    """What a strategy decided: frozen parameter names, LR scale per parameter name, and the
    BatchNorm layers that keep their running statistics (evaluated, not updated)."""

    frozen: set[str] = field(default_factory=set)
    lr_scales: dict[str, float] = field(default_factory=dict)
    frozen_norms: list[str] = field(default_factory=list)
    # gradual_unfreeze: the layer groups, and every how many epochs one more of them trains
    groups: list[list[str]] = field(default_factory=list)
    unfreeze_every: int = 0


def plan(
    model: nn.Module,
    strategy: str,
    freeze_groups: int = 0,
    freeze_patterns: Sequence[str] = (),
    lr_decay: float = 1.0,
    unfreeze_every: int = 1,
    head: str | None = None,
) -> Plan:
    """Decide what trains.

    Args:
        model: the model, pretrained weights loaded.
        strategy: full (everything trains), linear_probe (only the last group, the head; the
            backbone's BatchNorm statistics are frozen too), freeze (the first `freeze_groups`
            groups and the names matching `freeze_patterns`), llrd (everything trains; group i of
            n gets lr x lr_decay ** (n - 1 - i), so the head trains at the full rate),
            gradual_unfreeze (the head trains first, and every `unfreeze_every` epochs one more
            group below it; see `frozen_at`). Nothing is frozen before the optimizer is built,
            so it holds every parameter and takes each group up when its gradients appear.
            lora (the LoRA adapters that `lora.add_lora` put in train, and the classifier head;
            everything else is frozen, BatchNorm statistics too).
        head: the classifier's module name for lora, where the model has no
            `get_classifier()` (see `lora.lora_head`).

    Raises:
        ValueError: for an unknown strategy, or settings that freeze nothing or everything.
    """
    if strategy not in STRATEGIES:
        raise ValueError(
            f"strategy={strategy!r} is not known; choose one of {', '.join(STRATEGIES)}"
        )
    # Only these strategies need the layer groups (for a timm-style model, finding them imports
    # timm, about 60 MiB: a plain full run does not pay for it).
    needs_groups = strategy in ("linear_probe", "freeze", "llrd", "gradual_unfreeze")
    groups = layer_groups(model) if needs_groups else []
    decided = Plan()
    if strategy == "linear_probe":
        decided.frozen = {name for group in groups[:-1] for name in group}
    elif strategy == "freeze":
        if not 0 <= freeze_groups < len(groups):
            raise ValueError(
                f"freeze_groups={freeze_groups} is not possible; this model has {len(groups)} "
                f"layer groups, so choose 0 to {len(groups) - 1} (the head always trains)"
            )
        decided.frozen = {name for group in groups[:freeze_groups] for name in group}
        patterns = [re.compile(pattern) for pattern in freeze_patterns]
        decided.frozen |= {
            name for name, _ in model.named_parameters() if any(p.search(name) for p in patterns)
        }
        if not decided.frozen:
            raise ValueError(
                "strategy=freeze freezes nothing; set freeze_groups=N or freeze_patterns=[REGEX]"
            )
    elif strategy == "llrd":
        if not 0 < lr_decay <= 1:
            raise ValueError(f"lr_decay={lr_decay} is not in (0, 1]; 0.7 to 0.9 is usual")
        depth = len(groups) - 1
        decided.lr_scales = {
            name: lr_decay ** (depth - index)
            for index, group in enumerate(groups)
            for name in group
        }
    elif strategy == "gradual_unfreeze":
        if unfreeze_every < 1:
            raise ValueError(f"unfreeze_every={unfreeze_every} is not possible; use 1 or more")
        decided.groups, decided.unfreeze_every = groups, unfreeze_every
    elif strategy == "lora":
        from tuneforge.finetune.lora import is_adapter, lora_head

        name = lora_head(model, head)
        trains = f"{name}." if name else None
        params = [n for n, _ in model.named_parameters()]
        if not any(is_adapter(n) for n in params):
            raise ValueError(
                "strategy=lora found no LoRA adapters in the model; add them first with "
                "tuneforge.finetune.add_lora"
            )
        decided.frozen = {
            n for n in params if not is_adapter(n) and not (trains and n.startswith(trains))
        }
    if decided.frozen:
        decided.frozen_norms = norms_within(model, decided.frozen)
    return decided


def frozen_at(groups: list[list[str]], unfreeze_every: int, epoch: int) -> set[str]:
    """Parameter names still frozen at `epoch` of gradual unfreezing: the head trains from epoch
    0, and one more group, from the output down, every `unfreeze_every` epochs."""
    training = min(len(groups), 1 + epoch // unfreeze_every)
    return {name for group in groups[: len(groups) - training] for name in group}


def norms_within(model: nn.Module, frozen: set[str]) -> list[str]:
    """BatchNorm layers all of whose parameters are frozen: their statistics stay as trained."""
    norms = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = [f"{name}.{p}" for p, _ in module.named_parameters(recurse=False)]
            if params and all(p in frozen for p in params):
                norms.append(name)
    return norms


def apply(model: nn.Module, decided: Plan) -> None:
    """Set requires_grad from the plan (the optimizer then leaves frozen parameters out)."""
    for name, param in model.named_parameters():
        param.requires_grad = name not in decided.frozen
