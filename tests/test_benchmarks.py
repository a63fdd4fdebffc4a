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

    cfg = compose_train([*gpu.NANOGPT_CHAR, f"data.path={SHAKESPEARE}"])
    assert (cfg.model.n_layer, cfg.model.n_embd, cfg.data.block_size) == (6, 384, 256)
    assert cfg.scheduler._target_.endswith("warmup_cosine") and cfg.trainer.max_steps == 5000
    setups = gpu.setups()
    assert list(setups) == ["gpt2_small", "llama_smollm2_135m", "llama_1b"]
    with torch.device("meta"):  # the full sizes, without allocating them
        models = {name: setup.build() for name, setup in setups.items()}
    assert round(models["gpt2_small"].num_params() / 1e6) == 124  # as nanoGPT counts it
    assert round(models["llama_smollm2_135m"].num_params() / 1e6) == 135  # tied embeddings
    assert round(models["llama_1b"].num_params(non_embedding=False) / 1e8) == 11
    assert [setup.context for setup in setups.values()] == [1024, 2048, 2048]
    inputs, targets = next(iter(gpu.random_tokens(setups["llama_1b"], steps=1)))
    assert inputs.shape == targets.shape == (4, 2048)
    assert int(inputs.max()) < 32000 and torch.equal(inputs[:, 1:], targets[:, :-1])


def test_the_gpu_benchmark_trains_both_model_kinds_as_on_a_gpu(monkeypatch):
    """The throughput run itself, two steps of a tiny GPT and a tiny Llama on the CPU, with the
    GPU run's bf16-mixed precision and gradient clipping (a fused AdamW is refused there)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu

    from tuneforge.models import GPT, Llama

    tiny = {"vocab_size": 64, "block_size": 16, "n_layer": 1, "n_head": 2, "n_embd": 16}
    setups = [
        gpu.Setup(GPT, {**tiny, "dropout": 0.0, "bias": False}, batch=2),
        gpu.Setup(Llama, {**tiny, "n_kv_head": 1, "intermediate_size": 32}, batch=2),
    ]
    for setup in setups:
        row = gpu.throughput(setup, compiled=False, steps=1, warmup=1, accelerator="cpu")
        assert row["params"] == setup.build().num_params()
        assert row["ms_per_step"] > 0
        assert row["tokens_per_second"] == pytest.approx(2 * 16 * 1000 / row["ms_per_step"])
        assert row["mfu"] is None and row["memory_gib"] is None  # no bf16 peak or CUDA here
