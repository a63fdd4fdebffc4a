"""Read weights from wherever pretrained models are kept, as one flat dict of tensors.

Fine-tuning starts from files written by many tools: our own Lightning checkpoints, safetensors
exports, the `.pth` state dicts that papers' repositories publish, and Hugging Face model folders.
They differ in container and wrapping, not in content, so everything is reduced here to
`{name: tensor}` and the names are matched to the model afterwards (`load_pretrained`).

Nothing is unpickled as code: torch files are read with `weights_only=True` (`load_safely`), and
safetensors holds no code at all. Every failure is a `WeightsError` of one line naming the file
and what is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tuneforge.checkpoint_format import CHECKPOINT_KEY, NotLoaded, load_safely, run_checkpoint

if TYPE_CHECKING:
    from tuneforge.finetune.report import LoadReport

WEIGHTS_FIX = "point at a .ckpt, .safetensors or .pt/.pth/.bin file, or a Hugging Face model folder"

# What a Hugging Face model folder may hold, in order of preference: safetensors first because
# reading it runs no unpickler. A folder with none of them may be a tuneforge run's.
HF_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)

# Keys under which training scripts wrap a state dict: Lightning and most papers ("state_dict"),
# PyTorch's tutorials ("model_state_dict"), DeiT/MAE/timm's training script ("model").
WRAPPERS = ("state_dict", "model_state_dict", "model", "module")


class WeightsError(ValueError):
    """Weights that cannot be read, or do not fit the model; the message is one line.

    Attributes:
        report: the comparison with the model when one was made (strict loading, no match), so
            a caller can still write `load_report.json` for a failed run.
    """

    def __init__(self, message: str, report: LoadReport | None = None) -> None:
        super().__init__(message)
        self.report = report


def read_weights(source: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor in `source`, by its name there, on the CPU.

    Args:
        source: a `.ckpt` (Lightning's, weights under "state_dict"), a `.safetensors` file, a
            torch state dict (`.pt`, `.pth`, `.bin`; bare or wrapped in "state_dict", "model",
            ...), or a folder: a Hugging Face model (its `model.safetensors`, `pytorch_model.bin`
            or their sharded index) or a tuneforge run (its best, else last, checkpoint). Read
            offline, from the path only.

    Raises:
        WeightsError: when `source` is missing, a folder without weights, truncated, not a
            torch or safetensors file, holds pickled code, or holds no tensors.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise WeightsError(f"weights '{path}' do not exist; {WEIGHTS_FIX}")
    if path.is_dir():
        path = _folder_weights(path)
    if path.name.endswith(".index.json"):
        return _read_shards(path)
    return _read_file(path)


def stored_class_names(source: str | Path) -> list[str] | None:
    """The class names, in output order, of the data a tuneforge checkpoint was trained on; None
    for weights that do not say (safetensors, plain state dicts, Hugging Face folders)."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = _folder_weights(path)
    if path.suffix != ".ckpt":
        return None
    try:  # memory-mapped: only the small spec is read, not every tensor again
        data = load_safely(path, mmap=True)
    except NotLoaded:  # read_weights has said what is wrong with the file
        return None
    stored = data.get(CHECKPOINT_KEY) if isinstance(data, dict) else None
    names = ((stored or {}).get("data_spec") or {}).get("class_names")
    return [str(name) for name in names] if names else None


def _folder_weights(folder: Path) -> Path:
    """The weights file of a Hugging Face model folder, else of a tuneforge run's folder (as
    `tuneforge eval` reads one)."""
    found = next((folder / n for n in HF_FILES if (folder / n).is_file()), None)
    found = found or run_checkpoint(folder)
    if found is not None:
        return found
    config = "has config.json but" if (folder / "config.json").is_file() else "has no config.json"
    raise WeightsError(
        f"weights folder '{folder}' {config} no model.safetensors or pytorch_model.bin (nor a "
        f"tuneforge run's checkpoints/); {WEIGHTS_FIX}"
    )


def _read_shards(index: Path) -> dict[str, torch.Tensor]:
    """A large Hugging Face model: the index names the file of each tensor."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (ValueError, KeyError, TypeError, AttributeError) as ex:
        raise WeightsError(
            f"weights index '{index}' is not a shard index ({ex}); {WEIGHTS_FIX}"
        ) from ex
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        if not (index.parent / shard).is_file():
            raise WeightsError(
                f"weights shard '{index.parent / shard}' named in '{index}' is missing"
            )
        tensors.update(_read_file(index.parent / shard))
    return tensors


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.stat().st_size == 0:
        raise WeightsError(f"weights file '{path}' is empty; {WEIGHTS_FIX}")
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        return _read_safetensors(path)
    try:
        data = load_safely(path)
    except NotLoaded as ex:
        fix = "save its state_dict() instead, or convert it to safetensors"
        raise WeightsError(f"weights file {ex}; {fix if ex.holds_code else WEIGHTS_FIX}") from ex
    return _tensors(_unwrap(data), path)


def _looks_like_safetensors(path: Path) -> bool:
    """safetensors starts with the length of its JSON header (8 bytes, little-endian), then '{'."""
    with path.open("rb") as f:
        start = f.read(9)
    return len(start) == 9 and start[8:] == b"{" and int.from_bytes(start[:8], "little") > 1


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return _tensors(load_file(path, device="cpu"), path)
    except SafetensorError as ex:
        reason = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise WeightsError(
            f"weights file '{path}' is not a readable safetensors file (truncated or corrupt: "
            f"{reason}); {WEIGHTS_FIX}"
        ) from ex


def _unwrap(data: Any) -> Any:
    """The state dict inside a checkpoint's wrapping (at most a few levels deep)."""
    for _ in range(3):
        if not isinstance(data, dict):
            break
        inner = next((data[k] for k in WRAPPERS if isinstance(data.get(k), dict)), None)
        if inner is None:
            break
        data = inner
    return data


def _tensors(data: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(data, dict):
        tensors = {k: v for k, v in data.items() if isinstance(k, str) and torch.is_tensor(v)}
        if tensors:
            return tensors
        keys = ", ".join(map(str, list(data)[:5]))
        what = f"a dict with keys {keys}" if data else "an empty dict"
    else:
        what = f"a {type(data).__name__}"
    raise WeightsError(f"weights file '{path}' holds no tensors ({what}); {WEIGHTS_FIX}")
