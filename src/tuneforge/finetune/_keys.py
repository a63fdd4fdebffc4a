"""Match the names of tensors in a weights file to the names of a model's state dict.

The same weights reach us under different names depending on what wrapped the model when it was
saved: Lightning's task (`model.`), DistributedDataParallel (`module.`), `torch.compile`
(`_orig_mod.`), or a classifier moved into a submodule (torchvision's `fc.` is our `head.fc.`).
Three steps, each only where it makes a name match, so a model whose own names start with
`model.` keeps them:

1. strip the wrappers' prefixes, in any combination;
2. apply the user's `key_map` (regex -> replacement, in order, with `re.sub`);
3. pair a name left over on both sides when one is the other with a dotted prefix added
   (`fc.weight` <-> `head.fc.weight`, `bert.embeddings...` <-> `embeddings...`), if the pairing is
   unique both ways and the shapes agree (or the model's side is the head, which may be resized).
"""

import re
from dataclasses import dataclass, field

import torch

from tuneforge.finetune.weights import WeightsError

PREFIXES = ("model.", "module.", "_orig_mod.")
LORA_PREFIX = "lora_"  # peft's names for a LoRA update: lora_A, lora_B, lora_embedding_A, ...


def is_adapter(name: str) -> bool:
    """Whether a tensor name belongs to a LoRA adapter (A or B), not to the base model."""
    return any(part.startswith(LORA_PREFIX) for part in name.split("."))


@dataclass
class Names:
    """Where each source tensor goes: `target[source_name]` is a model name, or the source's
    (stripped) name when it fits nothing."""

    target: dict[str, str] = field(default_factory=dict)
    stripped_prefixes: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # stripped name -> name (steps 2, 3)


def _strip(key: str, model_keys: set[str]) -> str:
    """`key` without wrapper prefixes: the first variant the model has, else the barest."""
    candidates = [key]
    while any(key.startswith(p) for p in PREFIXES):
        key = key[len(next(p for p in PREFIXES if key.startswith(p))) :]
        candidates.append(key)
    # torch.compile on a submodule puts `_orig_mod.` inside the name, not in front.
    if "._orig_mod." in key:
        candidates.append(key.replace("._orig_mod.", "."))
    return next((c for c in candidates if c in model_keys), candidates[-1])


def _apply_key_map(name: str, key_map: dict[str, str]) -> str:
    for pattern, replacement in key_map.items():
        try:
            name = re.sub(pattern, replacement, name)
        except re.error as ex:
            raise WeightsError(
                f"key_map pattern {pattern!r} -> {replacement!r} is not a valid regex ({ex}); "
                "fix finetune.key_map"
            ) from ex
    return name


def _dotted_pair(a: str, b: str) -> bool:
    return a.endswith("." + b) or b.endswith("." + a)


def match_names(
    source: dict[str, torch.Tensor],
    model_state: dict[str, torch.Tensor],
    key_map: dict[str, str] | None,
    head_keys: set[str],
) -> Names:
    """The model name for every source tensor; see the module docstring for the three steps."""
    model_keys = set(model_state)
    stripped = {key: _strip(key, model_keys) for key in source}
    wanted = {k: _apply_key_map(s, key_map) if key_map else s for k, s in stripped.items()}
    # Two source tensors for one name (`x` and `module.x`): the one saved under that very name
    # wins, else the first; the other stays unexpected under its own name.
    owner: dict[str, str] = {}
    for key, name in sorted(wanted.items(), key=lambda item: item[0] != item[1]):
        owner.setdefault(name, key)
    names = Names(target={k: n if owner[n] == k else k for k, n in wanted.items()})
    names.stripped_prefixes = sorted(
        {k[: len(k) - len(s)] for k, s in stripped.items() if s != k and k.endswith(s)}
    )

    # Step 3: only among the names left unmatched on both sides.
    taken = set(names.target.values())
    left = [k for k, n in names.target.items() if n not in model_keys]
    missing = [k for k in model_state if k not in taken]
    pairs = {k: [m for m in missing if _dotted_pair(names.target[k], m)] for k in left}
    claims: dict[str, int] = {}
    for found in pairs.values():
        for m in found:
            claims[m] = claims.get(m, 0) + 1
    for key, found in pairs.items():
        if len(found) != 1 or claims[found[0]] != 1:
            continue
        model_name = found[0]
        same_shape = source[key].shape == model_state[model_name].shape
        if same_shape or model_name in head_keys:
            names.target[key] = model_name
    names.renamed = {stripped[k]: n for k, n in names.target.items() if n != stripped[k] and n != k}
    return names
