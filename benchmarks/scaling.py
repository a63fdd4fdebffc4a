"""Training throughput with 1 process against 2 DDP processes (gloo) on the CPU.

Both train the default digits CNN on the same global batch (`--batch-size` samples per optimizer
step: one process reads it whole, each of two ranks half of it) for `--steps` optimizer steps,
with validation, checkpoints and the test off. Throughput is samples per second over the steps
after the first five, as rank 0 measures them (callback `_train_time.TrainTime`). Lightning gives
each of the two ranks half of the machine's cores as torch threads. Runs go interleaved,
`--repeats` times; the table shows the median. On a 2-core machine two processes share the cores
one process already used, so the speed-up is bounded by what the one process left idle; and
when other work loads the machine, OpenMP threads that wait for each other by spinning make two
threads in one process slower than one (the third row shows it).

Run: .venv/bin/python benchmarks/scaling.py [--steps 60] [--batch-size 256] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import child_env
from _train_time import FILE_VARIABLE, WARMUP_STEPS

TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
# Label -> processes, overrides, environment. Lightning gives each DDP rank cpu_count / ranks
# torch threads; the third row gives one process that many too, to tell the threads' share.
SETUPS = {
    "1 process": (1, ["trainer=cpu"], {}),
    "1 process, 1 torch thread": (1, ["trainer=cpu"], {"OMP_NUM_THREADS": "1"}),
    "2 processes, DDP gloo": (2, ["trainer=ddp_cpu", "trainer.devices=2"], {}),
}
QUIET = [
    "test=false",
    "trainer.limit_val_batches=0",
    "+trainer.num_sanity_val_steps=0",
    "+trainer.enable_checkpointing=false",
    "callbacks=none",
    "logger=none",
    "+callbacks.train_time._target_=_train_time.TrainTime",
]


def samples_per_second(
    processes: int, overrides: list[str], extra_env: dict, batch: int, steps: int, cwd: str
) -> float:
    """Samples per second of one run of `steps` optimizer steps on global batches of `batch`."""
    run_dir = tempfile.mkdtemp(dir=cwd)
    timing = Path(run_dir) / "timing.json"
    command = [
        TUNEFORGE,
        "train",
        *overrides,
        *QUIET,
        f"data.batch_size={batch // processes}",
        f"trainer.max_steps={steps}",
        "trainer.max_epochs=-1",
        f"hydra.run.dir={run_dir}",
    ]
    env = child_env(**extra_env, **{FILE_VARIABLE: str(timing)})
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    timed = json.loads(timing.read_text())
    return timed["steps"] * batch / timed["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps of each run")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per optimizer step")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each setup")
    args = parser.parse_args()
    if args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must be above the {WARMUP_STEPS} untimed warmup steps")
    load = os.getloadavg()[0]
    rates: dict[str, list[float]] = {label: [] for label in SETUPS}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.repeats):
            for label, (processes, overrides, env) in SETUPS.items():
                rate = samples_per_second(
                    processes, overrides, env, args.batch_size, args.steps, cwd
                )
                rates[label].append(rate)

    medians = {label: statistics.median(values) for label, values in rates.items()}
    one = medians["1 process"]
    print(
        f"\n{args.repeats} runs of {args.steps} steps, global batch {args.batch_size}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start\n"
    )
    print(f"{'setup':<28}{'samples/s':>11}{'vs 1 process':>14}   runs")
    for label, values in rates.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        print(f"{label:<28}{medians[label]:>11.0f}{medians[label] / one:>14.2f}   {runs}")


if __name__ == "__main__":
    main()
