"""LoRA: train a low-rank update of a pretrained model's layers instead of the layers themselves.

An adapted layer computes W x + (alpha / rank) * B A x, where A (rank x in) and B (out x rank)
are the only new weights. B starts at zero, so training starts from the pretrained function
exactly, and only A and B (and the classifier head) train: a few percent of the parameters.

peft builds the layers (`inject_adapter_in_model`), in place: the model keeps its class and its
interface (`generate`, `group_matcher`, ...), and each adapted layer `name` moves to
`name.base_layer`, beside `name.lora_A.default` and `name.lora_B.default`. `merge_lora` folds
B A into W and puts the plain layer back, so merged weights carry the plain model's names.

Plain torch and peft: nothing here reads a config, so it works on any `nn.Module` in a notebook.
"""

import re

from torch import nn

from tuneforge.finetune._keys import is_adapter
from tuneforge.finetune.loading import find_head
from tuneforge.finetune.lora_bounds import check_lora_settings

# The layers peft's LoRA adapts, and those adapted when no pattern is given: the ones holding a
# backbone's compute (an Embedding is a lookup; LoRA on it must be asked for).
ADAPTABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)
DEFAULT = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# torch modules whose fast paths read their layers' weights instead of calling the layers.
FUSED = (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
SHOWN = 6  # layer names quoted in an error line


def _kind(module: nn.Module) -> str:
    return type(module).__name__


def _tied(model: nn.Module) -> set[str]:
    """Modules holding a parameter that another module holds too (a GPT's output layer and its
    token embedding)."""
    owners: dict[int, set[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        for param in module.parameters(recurse=False):
            owners.setdefault(id(param), set()).add(name)
    return {name for names in owners.values() if len(names) > 1 for name in names}


def lora_head(model: nn.Module, head: str | None = None) -> str | None:
    """The module that trains fully beside the adapters: `head`, else the classifier
    (`get_classifier()`), else the last Linear; None when its weight is another layer's too (a
    GPT's output layer is its token embedding, which stays frozen).

    Raises:
        ValueError: when `head` is not a module of the model.
    """
    name, _ = find_head(model, head)
    return None if name is None or name in _tied(model) else name


def _unadaptable(model: nn.Module, head: str | None) -> set[str]:
    """Layers LoRA must leave alone: the head (it trains fully), a layer whose weight another
    shares (an adapter on one would not reach the other), and layers inside torch's fused
    attention modules, whose forward reads their weights directly (always in
    nn.MultiheadAttention, in eval mode in nn.TransformerEncoderLayer), so an adapter there would
    not run."""
    skipped = _tied(model)
    for name, module in model.named_modules():
        if head is not None and (name == head or name.startswith(head + ".")):
            skipped.add(name)
        if isinstance(module, FUSED):
            skipped |= {f"{name}.{child}" for child, _ in module.named_modules() if child}
    return skipped


def lora_targets(
    model: nn.Module, pattern: str | None = None, head: str | None = None
) -> list[str]:
    """Names of the layers LoRA adapts in `model`.

    Args:
        model: any module.
        pattern: a regex searched in each module name (`attn`, `^blocks\\.[12]\\.`); the layers it
            finds that LoRA can adapt (Linear, Conv1d/2d/3d, Embedding) are adapted. None: every
            Linear and Conv layer. Never the head (see `lora_head`), tied layers, or layers
            inside torch's fused attention modules (see `_unadaptable`).
        head: the head's module name, for models without `get_classifier()`.

    Raises:
        ValueError: for an invalid regex, or when it finds no layer LoRA can adapt; the line
            names some that it can.
    """
    try:
        search = re.compile(pattern).search if pattern is not None else None
    except re.error as ex:
        raise ValueError(
            f"lora_targets={pattern!r} is not a valid regex ({ex}); fix finetune.lora_targets"
        ) from ex
    skipped = _unadaptable(model, lora_head(model, head))
    modules = [(name, m) for name, m in model.named_modules() if name]
    can = [(n, m) for n, m in modules if isinstance(m, ADAPTABLE) and n not in skipped]
    if search is None:
        chosen = [n for n, m in can if isinstance(m, DEFAULT)]
    else:
        chosen = [n for n, _ in can if search(n)]
    if chosen:
        return chosen
    listed = ", ".join(f"{n} ({_kind(m)})" for n, m in can[:SHOWN])
    listed += f" and {len(can) - SHOWN} more" if len(can) > SHOWN else ""
    fix = f"layers it can adapt: {listed}" if can else "it has no layer LoRA can adapt"
    if search is None:
        raise ValueError(
            f"lora_targets=null finds no Linear or Conv layer outside the head of "
            f"{type(model).__name__} ({fix}); set finetune.lora_targets=REGEX or choose another "
            "finetune strategy"
        )
    found = ", ".join([f"{n} ({_kind(m)})" for n, m in modules if search(n)][:SHOWN])
    what = f"finds only {found}, which LoRA cannot adapt" if found else "finds no module"
    raise ValueError(
        f"lora_targets={pattern!r} {what} in {type(model).__name__} ({fix}); set "
        "finetune.lora_targets to a regex that finds some"
    )


def add_lora(
    model: nn.Module,
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    targets: str | None = None,
    head: str | None = None,
) -> list[str]:
    """Wrap the layers `lora_targets(model, targets)` names in peft's LoRA layers, in place.

    Only the adapters then require gradients; `strategies.plan(model, "lora")` adds the head.
    Load pretrained weights before: afterwards an adapted layer's weights are named
    `name.base_layer.weight`.

    Args:
        model: any module.
        rank: inner width of each update B A; 4 to 64 is usual.
        alpha: the update is scaled by alpha / rank, so changing the rank keeps its size.
        dropout: on each adapter's input while training.
        targets, head: see `lora_targets`.

    Returns:
        The names of the adapted layers.

    Raises:
        ValueError: for settings outside `lora_bounds.LORA_BOUNDS`, or a pattern that finds
            nothing; one line.
    """
    check_lora_settings(rank, alpha, dropout)
    names = lora_targets(model, targets, head)
    from peft import LoraConfig, inject_adapter_in_model

    # The exact names, as one regex that peft matches against whole module names.
    exact = "^(?:" + "|".join(re.escape(name) for name in names) + ")$"
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=exact)
    inject_adapter_in_model(config, model)
    return names


def merge_lora(model: nn.Module) -> list[str]:
    """Fold each LoRA update into its layer's weight and put the plain layer back, in place.

    The model then computes what it computed with the adapters, with the plain model's layers
    and parameter names (`load_state_dict` into a model built without LoRA fits, strictly).

    Returns:
        The names of the merged layers (none for a model without LoRA).
    """
    if not any(is_adapter(name) for name, _ in model.named_parameters()):
        return []  # and peft, slow to import, is not needed
    from peft.tuners.tuners_utils import BaseTunerLayer

    merged = [name for name, m in model.named_modules() if isinstance(m, BaseTunerLayer)]
    for name in merged:
        layer = model.get_submodule(name)
        layer.merge()
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, layer.get_base_layer())
    return merged
