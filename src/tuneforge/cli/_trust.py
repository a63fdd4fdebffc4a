"""Which `_target_`s a checkpoint's stored config may build.

A checkpoint's config is data from wherever the file came from, and building it imports and calls
whatever its `_target_`s name. eval, predict, generate and export build only targets from the
libraries tuneforge composes (and those the user's own `--config-dir` names), unless the user
passes `trust_config=true` for a checkpoint they trust.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

TRUSTED_PACKAGES = ("tuneforge", "torch", "torchvision", "timm", "lightning")


def targets(node: Any) -> Iterator[str]:
    """Every `_target_` value in a config given as plain dicts and lists."""
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            yield node["_target_"]
        for value in node.values():
            yield from targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from targets(value)


def user_config_targets(config_dirs: Iterable[Path]) -> set[str]:
    """The `_target_`s that the YAML files in the user's own config folders name."""
    import yaml

    named: set[str] = set()
    for folder in config_dirs:
        for path in Path(folder).rglob("*.yaml"):
            try:
                named.update(targets(yaml.safe_load(path.read_text())))
            except (OSError, yaml.YAMLError):
                continue  # an unreadable file trusts nothing
    return named


def untrusted(config: dict, config_dirs: Iterable[Path] = ()) -> list[str]:
    """The targets in `config` outside the trusted packages and the user's config folders."""
    allowed = user_config_targets(config_dirs)
    found = sorted(set(targets(config)))
    return [
        target
        for target in found
        if target.split(".", 1)[0] not in TRUSTED_PACKAGES and target not in allowed
    ]


def user_config_dirs() -> list[Path]:
    """The folders the running command was given with `--config-dir` or `hydra.searchpath` on
    the command line (none outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    sources = HydraConfig.get().runtime.config_sources
    return [
        Path(source.path)
        for source in sources
        if source.provider.endswith("command-line") and source.schema == "file"
    ]
