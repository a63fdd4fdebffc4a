"""Check a composed config before anything runs, and report every problem at once.

Two checks: a typed schema for the keys tuneforge itself reads, and a binding of every
`_target_`'s arguments against its signature (unknown arguments, missing required ones, values of
the wrong type, impossible values). Each problem is one line naming the key, the bad value and
what is allowed.
"""

import difflib
import inspect
import typing
from collections.abc import Iterator
from typing import Any, Literal

from hydra.utils import get_object
from omegaconf import Container, DictConfig, ListConfig, OmegaConf

from tuneforge.errors import ConfigError
from tuneforge.run.config_rules import broken_rule
from tuneforge.run.config_types import conforms, describe

HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}

# What build() passes to each top-level component itself: a config need not (and should not) set
# these. Data dimensions reach the model from the DataModule, never by hand.
INJECTED: dict[str, set[str]] = {
    "data": {"train_transforms"},
    "model": {"input_shape", "num_classes", "vocab_size", "block_size", "max_length", "pad_id"},
    "task": {"model", "optimizer", "scheduler", "num_classes", "num_outputs"}
    | {"target_mean", "target_std", "batch_transform", "chars_per_token"},
    "optimizer": {"params"},
    "scheduler": {"optimizer", "total_steps"},
    "trainer": {"callbacks", "logger", "default_root_dir"},
}

# Keys that tuneforge's own code reads, with their types.
TRAIN_SCHEMA: dict[str, Any] = {
    "seed": int,
    # Optional (None: may be absent), so a user's own augmentation files need not name them.
    "augmentation.mixup_alpha": float | None,
    "augmentation.cutmix_alpha": float | None,
    "monitor.metric": str,
    "monitor.mode": Literal["min", "max"],
    "test": bool,
    "ema": float | None,
    "compile": bool | None,
    "channels_last": bool | None,
    "tf32": bool | None,
    "tune": Literal["batch_size", "lr"] | None,
    # Optional, so a checkpoint's stored config from before they existed still builds.
    "resume.from": str | None,
    "resume.allow_changes": bool | None,
    "checkpoint.every_n_steps": int | None,
    "skip_nonfinite": int | None,
    "finetune.checkpoint": str | None,
    "finetune.key_map": dict[str, str] | None,
    "finetune.strict": bool | None,
    "finetune.reset_head": bool | Literal["auto"] | None,
    "finetune.head": str | None,
    "finetune.strategy": Literal[
        "full", "linear_probe", "freeze", "llrd", "gradual_unfreeze", "lora"
    ]
    | None,
    "finetune.freeze_groups": int | None,
    "finetune.freeze_patterns": list[str] | None,
    "finetune.lr_decay": float | None,
    "finetune.unfreeze_every": int | None,
    "finetune.lora_rank": int | None,
    "finetune.lora_alpha": float | None,
    "finetune.lora_dropout": float | None,
    "finetune.lora_targets": str | None,
    "finetune.quantization": Literal["nf4", "fp4"] | None,
    "finetune.double_quantization": bool | None,
    "finetune.compute_dtype": Literal["float32", "bfloat16", "float16"] | None,
}


def _select(container: dict, dotted: str) -> tuple[bool, Any]:
    node: Any = container
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_schema(container: dict, schema: dict[str, Any]) -> list[str]:
    problems = []
    for key, annotation in schema.items():
        present, value = _select(container, key)
        if not present:
            if not conforms(None, annotation):
                problems.append(f"{key} is missing from the config; set {key}=VALUE")
        elif not conforms(value, annotation):
            problems.append(f"{key}={value!r} is not valid; expected {describe(annotation)}")
        elif (rule := broken_rule(key.rsplit(".", 1)[-1], value)) is not None:
            problems.append(f"{key}={value!r} is not valid; expected {rule.allowed}")
    return problems


def _target_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every dict with a `_target_` under `node`, with its dotted path, outermost first."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield path, node
        for key, value in node.items():
            yield from _target_nodes(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _target_nodes(value, f"{path}[{index}]")


def _signature(target: Any) -> tuple[inspect.Signature, dict[str, Any]]:
    signature = inspect.signature(target)
    function = target.__init__ if inspect.isclass(target) else target
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # annotations that do not resolve: check names, not types
        hints = {}
    return signature, hints


def check_target(path: str, node: dict, injected: set[str]) -> list[str]:
    """Problems binding the arguments in `node` to the signature of its `_target_`."""
    name = node["_target_"]
    try:
        target = get_object(name)
    except Exception:
        return [f"{path}._target_={name!r} cannot be imported; check the module and class name"]
    try:
        signature, hints = _signature(target)
    except (TypeError, ValueError):
        return []  # a builtin without a signature: nothing to check against
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    problems = []
    for key, value in node.items():
        if key in HYDRA_KEYS:
            continue
        full = f"{path}.{key}"
        if key not in params:
            if not takes_any:
                close = difflib.get_close_matches(key, accepted, n=1)
                hint = f"did you mean {path}.{close[0]}? " if close else ""
                options = ", ".join(a for a in accepted if a not in injected and a != "self")
                problems.append(f"{full} is not an argument of {name}; {hint}it takes: {options}")
            continue
        if key in injected:
            problems.append(f"{full} is set by tuneforge from the data; remove it from the config")
            continue
        annotation = hints.get(key, params[key].annotation)
        if params[key].default is None and value is None:
            pass
        elif annotation is not inspect.Parameter.empty and not conforms(value, annotation):
            problems.append(f"{full}={value!r} is not valid; {name} expects {describe(annotation)}")
            continue
        rule = broken_rule(key, value)
        if rule is not None:
            problems.append(f"{full}={value!r} is not valid; expected {rule.allowed}")
    if node.get("_partial_"):
        return problems
    for param_name, param in params.items():
        required = param.default is inspect.Parameter.empty and param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        if required and param_name not in node and param_name not in injected:
            problems.append(
                f"{path}.{param_name} is required by {name}; set {path}.{param_name}=VALUE"
            )
    return problems


def check_targets(container: dict) -> list[str]:
    problems = []
    for path, node in _target_nodes(container):
        top = path.split(".")[0].split("[")[0]
        injected = INJECTED.get(top, set()) if path == top else set()
        problems.extend(check_target(path, node, injected))
    return problems


def missing_keys(cfg: Container) -> list[str]:
    """Every key of `cfg` left `???`, in order. Interpolations are not resolved:
    OmegaConf.missing_keys resolves them, and fails on the first one that points at a `???`
    (`tokenizer_file: ${model.path}/tokenizer.json`) instead of naming the key to set."""
    found = []
    keys = range(len(cfg)) if isinstance(cfg, ListConfig) else cfg.keys()
    for key in keys:
        node = cfg._get_node(key)
        if node._is_missing():
            found.append(cfg._get_full_key(key))
        elif isinstance(node, Container) and not node._is_interpolation():
            found.extend(missing_keys(node))
    return found


def check_required(cfg: Container) -> None:
    """Raises a ConfigError naming every `???` key and how to set it, before anything is built."""
    missing = missing_keys(cfg)
    if missing:
        raise ConfigError(*(f"{key} is required; set {key}=VALUE" for key in missing))


def to_container(cfg: DictConfig) -> dict:
    """The config as plain data with interpolations resolved; a missing `???` value is an error."""
    check_required(cfg)
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except Exception as ex:
        raise ConfigError(f"the config does not resolve: {str(ex).splitlines()[0]}") from ex


def validate(cfg: DictConfig, schema: dict[str, Any] | None = None) -> dict:
    """The resolved config as plain data, or a ConfigError listing every problem found."""
    container = to_container(cfg)
    problems = check_schema(container, schema or {}) + check_targets(container)
    if problems:
        raise ConfigError(*problems)
    return container
