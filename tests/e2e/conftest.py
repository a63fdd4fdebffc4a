"""One real default training run, shared by the end-to-end tests that read its folder."""

import json
from pathlib import Path

import pytest

from ..conftest import run_tuneforge


def only_run_dir(cwd: Path, verb: str) -> Path:
    """The single run folder that `tuneforge VERB` made under cwd/outputs/VERB/."""
    (run_dir,) = (cwd / "outputs" / verb).iterdir()
    return run_dir


def read_metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """`tuneforge train` with no overrides, from a folder outside the repository."""
    cwd = tmp_path_factory.mktemp("default_run")
    result = run_tuneforge("train", cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return only_run_dir(cwd, "train")
