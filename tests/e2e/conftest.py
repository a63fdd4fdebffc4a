"""One real default training run, shared by the end-to-end tests that read its folder."""

import json
from pathlib import Path

import pytest

from ..conftest import SHAKESPEARE, run_tuneforge


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


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with a file's bytes (None for a folder or link): equal before
    and after a command that must leave the folder as it found it."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() and not p.is_symlink() else None
        for p in sorted(folder.rglob("*"))
    }


def train_small_gpt(cwd: Path, characters: int, *overrides: str) -> Path:
    """The run folder of `tuneforge train` on tiny Shakespeare's first `characters`."""
    text = cwd / "shakespeare.txt"
    text.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:characters], encoding="utf-8")
    run_dir = cwd / "run"
    result = run_tuneforge(
        "train", *overrides, f"data.path={text}", f"hydra.run.dir={run_dir}", cwd=cwd
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir
