"""The environment of a `tuneforge` command that a benchmark runs as a child process."""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child_env(**variables: str) -> dict[str, str]:
    """This process's environment with `variables` added and this folder first on PYTHONPATH,
    so the child's config can name the benchmarks' timing callbacks (`_first_step`, ...)."""
    pythonpath = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **variables, "PYTHONPATH": pythonpath}
