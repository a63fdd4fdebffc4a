"""The same seed gives the same metrics twice on the CPU; another seed gives others."""

import pytest

from ..conftest import run_tuneforge
from .conftest import read_metrics

pytestmark = pytest.mark.slow

TIMING_KEYS = {"wall_seconds"}


def quick_run(tmp_path, name: str, seed: int) -> dict:
    run_dir = tmp_path / name
    result = run_tuneforge(
        "train",
        f"seed={seed}",
        "trainer.max_epochs=2",
        "augmentation=shift",
        "logger=none",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return {k: v for k, v in read_metrics(run_dir).items() if k not in TIMING_KEYS}


def test_same_seed_same_metrics(tmp_path):
    first, second = quick_run(tmp_path, "a", seed=7), quick_run(tmp_path, "b", seed=7)
    assert first == second
    other = quick_run(tmp_path, "c", seed=8)
    assert other["test/loss"] != first["test/loss"]
