"""A config read from a checkpoint never decides where a command writes, nor what it fetches.

eval, predict, export and generate rebuild data and model from the config stored in a
checkpoint, which came from wherever the file came from. Its folders (`paths.*`, `hydra.*`,
`data.cache_dir`, any `*_dir` or `dirpath`) are moved under the command's own run folder, and
everything that would fetch or read pretrained weights is switched off: the checkpoint holds the
trained weights.
Files it names to read (`data.path`, `data.tokenizer_file`) are only read.
"""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, open_dict

from tuneforge.caches import user_cache_dir

# Fetch or read weights that the checkpoint's own weights replace anyway.
NO_FETCH = {"download": False, "pretrained": False, "pretrained_file": None}
# timm.create_model's arguments that read a weights file (the model adapter passes them on).
WEIGHT_FILES = ("checkpoint_path", "pretrained_cfg", "pretrained_cfg_overlay")
# Cache folders of conversions that cost minutes: the user's cache, not a throwaway folder.
USER_CACHES = {"gguf_cache_dir": "gguf"}
REBUILT_FOLDERS = "rebuilt"  # under the run folder: where the stored config's folders go


def _confine(node: Any, run_dir: Path) -> None:
    if isinstance(node, ListConfig):
        for value in node:
            _confine(value, run_dir)
        return
    if not isinstance(node, DictConfig):
        return
    for key in list(node.keys()):
        key = str(key)
        if key in NO_FETCH:
            node[key] = NO_FETCH[key]
        elif key in WEIGHT_FILES:
            del node[key]
        elif key in USER_CACHES:  # conversions worth keeping go to the user's own cache
            node[key] = str(user_cache_dir(USER_CACHES[key]))
        elif key.endswith("_dir") or key == "dirpath":  # dirpath: Lightning's checkpoints
            node[key] = str(run_dir / REBUILT_FOLDERS / key)
        else:
            _confine(node[key], run_dir)


def confined(trained: DictConfig, verb: DictConfig, run_dir: Path) -> DictConfig:
    """`trained` (changed in place) with the `paths` of the command `verb` that rebuilds it (its
    run folder `run_dir`), no `hydra` section, every other folder under `run_dir` and no
    download or pretrained-weights load."""
    mine = verb.get("paths") or {}
    with open_dict(trained):
        trained.pop("hydra", None)
        trained.paths = {key: mine[key] for key in mine if key != "output_dir"}
        trained.paths.output_dir = str(run_dir)
        for key, value in trained.items():
            if key != "paths":
                _confine(value, run_dir)
    return trained
