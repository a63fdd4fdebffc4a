"""Whole-run time to a validation loss: `tuneforge train` against nanoGPT's own train.py.

Each repeat runs both as whole processes, one after the other, the first of the pair alternating:

- nanoGPT's CPU command from its README (4 layers, 4 heads, 128 wide, context 64, batch 12,
  2,000 steps, `--steps`), in a nanoGPT checkout (`--nanogpt`) whose data/shakespeare_char/
  its prepare.py has filled;
- `tuneforge train experiment=gpt_shakespeare_char` (`--experiment`) on the same text
  (`--data`), as the experiment says or with the overrides given.

Wall seconds run from just before a process starts to its exit (startup, validations, the
test, plots: everything a user waits for); CPU seconds (user + system) are printed beside them,
as they move less when other processes share the machine. The final losses: nanoGPT's own
estimate at its last step (`eval_iters=20` batches of the validation split), nanoGPT's saved
checkpoint scored on the whole validation split by the same windows as ours (side by side, from
its start), and tuneforge's test loss over the whole split (metrics.json). The ratio is
tuneforge's wall time over nanoGPT's, pair by pair; the verdict reads their median. Runs write to
a temporary folder.

Run: .venv/bin/python benchmarks/whole_run.py --nanogpt PATH/nanoGPT --data PATH/tinyshakespeare.txt
     [--repeats 3] [--steps 2000] [--experiment NAME] [--threads N] [tuneforge overrides ...]
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.0
TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
# nanoGPT's README command for a CPU, but for the steps (--steps) and the output folder.
NANOGPT_ARGS = [
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--dropout=0.0",
]
NANOGPT_VAL = re.compile(r"^step (\d+): train loss [\d.]+, val loss ([\d.]+)$", flags=re.M)
# Mean next-token loss of nanoGPT's checkpoint over every window of block_size tokens of its
# validation split, side by side from the start: what tuneforge's test scores.
SCORE_WHOLE_SPLIT = """
import sys
import numpy as np
import torch
from model import GPT, GPTConfig

checkpoint = torch.load(sys.argv[1], map_location="cpu")
model = GPT(GPTConfig(**checkpoint["model_args"]))
model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()})
model.eval()
ids = np.fromfile("data/shakespeare_char/val.bin", dtype=np.uint16).astype(np.int64)
size = checkpoint["model_args"]["block_size"]
count = (len(ids) - 1) // size
x = torch.from_numpy(ids[: count * size]).view(count, size)
y = torch.from_numpy(ids[1 : count * size + 1]).view(count, size)
total = 0.0
with torch.no_grad():
    for start in range(0, count, 64):
        _, loss = model(x[start : start + 64], y[start : start + 64])
        total += loss.item() * len(x[start : start + 64])
print(total / count)
"""


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[str, float, float]:
    """The command's output, wall seconds and CPU seconds (user + system, its children too)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done.stdout + done.stderr, wall, cpu


def run_nanogpt(args: argparse.Namespace, out: Path, env: dict[str, str]) -> dict:
    every = min(250, args.steps)  # its config's interval; shorter runs still save a checkpoint
    steps = [
        f"--max_iters={args.steps}",
        f"--lr_decay_iters={args.steps}",
        f"--eval_interval={every}",
    ]
    command = [sys.executable, "train.py", *NANOGPT_ARGS, *steps, f"--out_dir={out}"]
    text, wall, cpu = timed(command, args.nanogpt, env)
    step, estimate = NANOGPT_VAL.findall(text)[-1]
    whole = subprocess.run(
        [sys.executable, "-c", SCORE_WHOLE_SPLIT, str(out / "ckpt.pt")],
        cwd=args.nanogpt,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    losses = f"val {float(estimate):.4f} (20 batches, step {step}), "
    return {
        "wall": wall,
        "cpu": cpu,
        "losses": losses + f"whole split {float(whole.stdout.split()[-1]):.4f}",
    }


def run_tuneforge(args: argparse.Namespace, out: Path, env: dict[str, str]) -> dict:
    command = [
        TUNEFORGE,
        "train",
        f"experiment={args.experiment}",
        f"data.path={args.data}",
        f"data.cache_dir={out.parent / 'cache'}",
        f"hydra.run.dir={out}",
        *args.overrides,
    ]
    _, wall, cpu = timed(command, Path.cwd(), env)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    losses = f"test/loss {metrics['test/loss']:.4f} (whole split, step {metrics['steps']})"
    return {"wall": wall, "cpu": cpu, "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, required=True, help="a prepared nanoGPT checkout")
    parser.add_argument("--data", type=Path, required=True, help="tinyshakespeare.txt")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    parser.add_argument("--steps", type=int, default=2000, help="nanoGPT's optimizer steps")
    parser.add_argument("--experiment", default="gpt_shakespeare_char")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS for both (unset: torch's)")
    parser.add_argument("overrides", nargs="*", help="more tuneforge overrides")
    args = parser.parse_args()
    args.nanogpt, args.data = args.nanogpt.resolve(), args.data.resolve()
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    sides = {"nanoGPT train.py": run_nanogpt, f"tuneforge {args.experiment}": run_tuneforge}
    results: dict[str, list[dict]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            order = list(sides) if repeat % 2 == 0 else list(sides)[::-1]
            for name in order:
                result = sides[name](args, Path(folder) / f"{repeat}-{name[:4]}", env)
                results[name].append(result)
                print(
                    f"{name} run {repeat + 1}: {result['wall']:.1f} s wall, "
                    f"{result['cpu']:.1f} s CPU, {result['losses']}",
                    flush=True,
                )
    nano, ours = results.values()
    ratios = [o["wall"] / n["wall"] for n, o in zip(nano, ours, strict=True)]
    cpu_ratios = [o["cpu"] / n["cpu"] for n, o in zip(nano, ours, strict=True)]
    for name, runs in results.items():
        walls = [run["wall"] for run in runs]
        print(
            f"{name}: median {statistics.median(walls):.1f} s wall ({min(walls):.1f} to "
            f"{max(walls):.1f})"
        )
    print("tuneforge / nanoGPT, wall, per pair: " + " ".join(f"{r:.3f}" for r in ratios))
    print("tuneforge / nanoGPT, CPU, per pair: " + " ".join(f"{r:.3f}" for r in cpu_ratios))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\ngoal: tuneforge train <= {GOAL:.2f} x nanoGPT's wall time: {verdict} ({ratio:.3f})")


if __name__ == "__main__":
    main()
