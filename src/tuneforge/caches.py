"""The user's cache folder for tuneforge: what is worth keeping between runs and projects (a
GGUF's converted weights), in the place the XDG convention gives, which the user decides and no
file read by a run can change."""

import os
from pathlib import Path


def user_cache_dir(kind: str) -> Path:
    """`$XDG_CACHE_HOME/tuneforge/KIND`, or `~/.cache/tuneforge/KIND`."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "tuneforge" / kind
