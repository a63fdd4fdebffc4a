"""What differs between two resolved configs, key by key, as a person reads it: `optimizer.lr:
0.003 -> 0.5`.

A resumed run compares the config stored in its checkpoint with the one the command composed.
Where each run's folder is written into other values (`${paths.output_dir}/checkpoints`), the
folder is put back as its key first, so that two folders of one config compare equal.
"""

from dataclasses import dataclass
from typing import Any

ABSENT = "absent"


@dataclass(frozen=True)
class Change:
    """One key whose value differs: `before` or `after` is `ABSENT` where the key is missing."""

    key: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.key}: {shown(self.before)} -> {shown(self.after)}"


def shown(value: Any) -> str:
    """`value` as YAML writes it in a line: null, true, 0.003, [0.9, 0.999], {a: 1}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def differences(before: Any, after: Any, key: str = "") -> list[Change]:
    """Every leaf that differs between `before` and `after`, in the order of their keys.

    Dicts are compared key by key and lists of one length item by item (`augmentation.train[1].p`);
    a key only one side has, or a list that changed length, is one change of the whole value.
    """
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for name in [*before, *(k for k in after if k not in before)]:
            inner = f"{key}.{name}" if key else str(name)
            changes += differences(before.get(name, ABSENT), after.get(name, ABSENT), inner)
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        pairs = enumerate(zip(before, after, strict=True))
        return [change for i, pair in pairs for change in differences(*pair, f"{key}[{i}]")]
    same = before == after and isinstance(before, bool) == isinstance(after, bool)  # 1 != true
    return [] if same else [Change(key, before, after)]


def _with_folders_named(value: Any, folders: list[tuple[str, str]]) -> Any:
    if isinstance(value, dict):
        return {k: _with_folders_named(v, folders) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_folders_named(v, folders) for v in value]
    if isinstance(value, str):
        for folder, name in folders:
            if value == folder or value.startswith(folder + "/"):
                return name + value[len(folder) :]
    return value


def comparable(config: dict[str, Any], ignored: tuple[str, ...]) -> dict[str, Any]:
    """`config` without its top-level `ignored` keys, every `paths.*` folder written in another
    value put back as `${paths.KEY}`, and `paths` itself dropped: where a run reads and writes
    is not what it trains."""
    paths = config.get("paths") or {}
    folders = [(str(v), f"${{paths.{k}}}") for k, v in paths.items() if isinstance(v, str) and v]
    folders.sort(key=lambda pair: len(pair[0]), reverse=True)  # a folder inside another first
    kept = {k: v for k, v in config.items() if k not in ("paths", *ignored)}
    return _with_folders_named(kept, folders)
