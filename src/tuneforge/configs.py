"""Where tuneforge's own configs live: every layer that reads `conf/` asks here."""

from pathlib import Path


def config_dir() -> Path:
    """conf/ as shipped in the wheel (tuneforge/conf), or at the root of a source checkout."""
    import importlib.util

    spec = importlib.util.find_spec("tuneforge.conf")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("tuneforge's configs (tuneforge.conf) are not installed")
    return Path(next(iter(spec.submodule_search_locations)))
