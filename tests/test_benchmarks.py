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
def test_pretrain_trains_the_same_llama_on_the_same_batches_on_both_sides():
    out = run_benchmark("pretrain.py", "--data", str(SHAKESPEARE), "--steps=2", "--warmup=1")
    assert re.search(r"^litgpt: skipped \(no --litgpt SITE", out, flags=re.M)  # none installed
    assert re.search(r"^tuneforge +[\d.]+ .* [\d.]+$", out, flags=re.M)
    gap = re.search(r"^tuneforge vs plain, largest loss difference over 2 steps: (\S+)$", out, re.M)
    assert float(gap[1]) == 0.0  # same seed, model class and windows: the same losses
    assert VERDICT.search(out)


@pytest.mark.slow
def test_memory_measures_every_row_in_its_own_process():
    out = run_benchmark("memory.py", "--epochs=1", "--repeats=1")
    rows = ["python -c 'import torch'", "plain PyTorch loop", "Lightning Trainer", "tuneforge"]
    peaks = [int(re.search(rf"^{re.escape(r)}.*? (\d+) +[\d.]+ ", out, re.M)[1]) for r in rows]
    assert peaks[0] < peaks[1] < peaks[3]  # torch alone, then training, then the framework
    assert VERDICT.search(out)


def test_the_gpu_benchmark_configures_what_it_says(monkeypatch):
    """gpu.py runs only on a GPU; what it builds is checked here, so that the run a GPU is lent
    for does not fail on a renamed key or argument."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu
    import torch
    from overhead import compose_train

    from tuneforge.models import GPT

    cfg = compose_train([*gpu.NANOGPT_CHAR, f"data.path={SHAKESPEARE}"])
    assert (cfg.model.n_layer, cfg.model.n_embd, cfg.data.block_size) == (6, 384, 256)
    assert cfg.scheduler._target_.endswith("warmup_cosine") and cfg.trainer.max_steps == 5000
    with torch.device("meta"):
        model = GPT(**gpu.GPT2_SMALL, dropout=0.0, bias=False)
    assert round(model.num_params() / 1e6) == 124  # GPT-2 small, as nanoGPT counts it
    inputs, targets = next(iter(gpu.random_tokens(batch=2, steps=1)))
    assert inputs.shape == targets.shape == (2, gpu.GPT2_SMALL["block_size"])
