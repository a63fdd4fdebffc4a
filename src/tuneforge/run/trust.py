"""Which `_target_`s a checkpoint's stored config may build.

A checkpoint's config is data from wherever the file came from, and building it imports and calls
whatever its `_target_`s name. A package prefix is no boundary: torch, lightning and timm hold
callables that run shell commands, write files or load code (`torch.hub.load`), and Hydra's
`_locate` walks attributes, so `torch.os.system` resolves to `os.system`. So eval, predict,
generate and export build only the exact names that tuneforge's shipped `conf/` names, and those
the user's own config files name (`--config-dir`, `hydra.searchpath`), unless the user passes
`trust_config=true` for a checkpoint they trust. A run folder inside a config folder trusts
nothing: its `.hydra/config.yaml` is the very file being judged.
"""

import functools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# A folder holding any of these is a run's, not the user's own configs.
RUN_FOLDER_MARKS = (".hydra", "checkpoints", "metrics.json")


def targets(node: Any) -> Iterator[Any]:
    """Every `_target_` value in a config given as plain dicts and lists (strings or not)."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield node["_target_"]
        for value in node.values():
            yield from targets(value)
    elif isinstance(node, list):
        for value in node:
            yield from targets(value)


def interpolations(node: Any, key: str = "") -> Iterator[str]:
    """The keys whose values are OmegaConf interpolations (`${...}`). A stored config is
    resolved, so it holds none; one that does could build a target when resolved
    (`${oc.decode:...}` parses YAML) after the targets were checked."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from interpolations(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from interpolations(value, f"{key}[{index}]")
    elif isinstance(node, str) and "${" in node:
        yield key


def is_run_folder(folder: Path) -> bool:
    return any((folder / mark).exists() for mark in RUN_FOLDER_MARKS)


def _inside_run_folder(path: Path) -> bool:
    """Whether `path`, links followed, lies in a run folder (a link into one counts)."""
    return any(is_run_folder(parent) for parent in path.resolve().parents)


def _yaml_files(folder: Path) -> Iterator[Path]:
    """The YAML files under `folder`, run folders (and what links into them) left out."""
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if is_run_folder(here):
            dirs[:] = []
            continue
        for name in files:
            path = here / name
            if name.endswith((".yaml", ".yml")) and not _inside_run_folder(path):
                yield path


def _named_in(files: Iterable[Path]) -> set[str]:
    import yaml

    named: set[str] = set()
    for path in files:
        try:
            found = targets(yaml.safe_load(path.read_text()))
            named.update(target for target in found if isinstance(target, str))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # an unreadable file trusts nothing
    return named


# Components that moved, under the names that configs and checkpoints written before still hold.
FORMER_NAMES = frozenset({"tuneforge.cli.strategies.fsdp"})


@functools.cache
def shipped_targets() -> frozenset[str]:
    """The `_target_`s that tuneforge's own `conf/` names (the components it ships), and their
    former names."""
    from tuneforge.configs import config_dir

    return frozenset(_named_in(_yaml_files(config_dir()))) | FORMER_NAMES


def user_config_targets(config_dirs: Iterable[Path]) -> set[str]:
    """The `_target_`s that the YAML files in the user's own config folders name."""
    named: set[str] = set()
    for folder in config_dirs:
        folder = Path(folder)
        if folder.is_dir() and not (is_run_folder(folder) or _inside_run_folder(folder)):
            named |= _named_in(_yaml_files(folder))
    return named


def untrusted(config: dict, config_dirs: Iterable[Path] = ()) -> list[str]:
    """What in `config` may not be built: targets that neither tuneforge's configs nor the
    user's name (shown as they are), and keys holding interpolations."""
    allowed = shipped_targets() | user_config_targets(config_dirs)
    found = {repr(t) if not isinstance(t, str) else t for t in targets(config)}
    foreign = sorted(target for target in found if target not in allowed)
    return foreign + [
        f"what the interpolation at {key} resolves to" for key in interpolations(config)
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
