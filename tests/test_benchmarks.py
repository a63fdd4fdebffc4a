"""The benchmarks still run: each prints its table and its verdict on the goal.

They are not timed here (speed and memory goals live in benchmarks/RESULTS.md); these runs are
cut to a few steps so that a change to the code they drive cannot leave them broken unnoticed.
"""

import re
import subprocess
import sys

import pytest

from .conftest import REPO, SHAKESPEARE

BENCHMARKS = REPO / "benchmarks"
VERDICT = re.compile(r"^goal: .* (met|NOT met) \(\d+\.\d+\)$", flags=re.M)


def run_benchmark(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_overhead_pairs_each_tuneforge_run_with_a_plain_one():
    tiny = ["model=mlp", "model.width=8", "model.depth=1"]
    out = run_benchmark("overhead.py", "--epochs=2", "--repeats=2", "--no-stripped", *tiny)
    assert re.search(r"^plain PyTorch loop +[\d.]+ .* 1\.000$", out, flags=re.M)
    assert re.search(r"^tuneforge train \(default\), per repeat: [\d.]+ [\d.]+$", out, flags=re.M)
    assert "callbacks=none" not in out
    assert VERDICT.search(out)


@pytest.mark.slow
def test_gpt_overhead_times_both_sides():
    args = ["--data", str(SHAKESPEARE), "--steps=3", "--epochs=2", "--repeats=1"]
    out = run_benchmark("gpt_overhead.py", *args)
    assert re.search(r"^tuneforge train +[\d.]+ .* \d+ +[\d.]+$", out, flags=re.M)
    assert VERDICT.search(out)


@pytest.mark.slow
def test_memory_measures_every_row_in_its_own_process():
    out = run_benchmark("memory.py", "--epochs=1", "--repeats=1")
    rows = ["python -c 'import torch'", "plain PyTorch loop", "Lightning Trainer", "tuneforge"]
    peaks = [int(re.search(rf"^{re.escape(r)}.*? (\d+) +[\d.]+ ", out, re.M)[1]) for r in rows]
    assert peaks[0] < peaks[1] < peaks[3]  # torch alone, then training, then the framework
    assert VERDICT.search(out)
