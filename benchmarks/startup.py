"""How long `tuneforge` takes to start, next to the floor of importing torch and Lightning.

Runs, in subprocesses with this virtualenv's Python and `tuneforge` console script:

- `python -c "import torch, lightning"`: the floor that any Lightning program pays;
- `tuneforge --help`, `tuneforge train --help` and `tuneforge train --cfg job`;
- `tuneforge train` on the default config, timed from just before the process starts to the end
  of its first optimizer step (callback `_first_step.FirstStepTime` writes the time), with
  `trainer.max_steps=1 test=false` so that the run stops soon after.

Each command runs `--repeats` times, interleaved; the table shows the median wall time. Runs go to
a temporary folder, so nothing is left in outputs/.

Run: .venv/bin/python benchmarks/startup.py [--repeats 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _child import child_env
from _first_step import FILE_VARIABLE

TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
FIRST_STEP = "tuneforge train, to the first optimizer step"
FLOOR = "import torch, lightning"
COMMANDS = {
    f'python -c "{FLOOR}" (floor)': [sys.executable, "-c", FLOOR],
    "tuneforge --help": [TUNEFORGE, "--help"],
    "tuneforge train --help": [TUNEFORGE, "train", "--help"],
    "tuneforge train --cfg job": [TUNEFORGE, "train", "--cfg", "job"],
}


def run(command: list[str], env: dict[str, str], cwd: str) -> float:
    """Seconds from just before `command` starts to its exit."""
    start = time.time()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.time() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds


def to_first_step(env: dict[str, str], cwd: str) -> float:
    """Seconds from just before `tuneforge train` starts to the end of its first optimizer step."""
    run_dir = tempfile.mkdtemp(dir=cwd)
    stamp = Path(run_dir) / "first_step"
    command = [
        TUNEFORGE,
        "train",
        "trainer.max_steps=1",
        "test=false",
        f"hydra.run.dir={run_dir}",
        "+callbacks.first_step._target_=_first_step.FirstStepTime",
    ]
    start = time.time()
    run(command, {**env, FILE_VARIABLE: str(stamp)}, cwd)
    return float(stamp.read_text()) - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command")
    args = parser.parse_args()

    env = child_env()
    times: dict[str, list[float]] = {label: [] for label in [*COMMANDS, FIRST_STEP]}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.repeats):
            for label, command in COMMANDS.items():
                times[label].append(run(command, env, cwd))
            times[FIRST_STEP].append(to_first_step(env, cwd))

    print(f"\nmedian of {args.repeats} runs, {os.cpu_count()} CPUs\n")
    print(f"{'command':<46}{'median s':>10}   runs")
    for label, values in times.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{label:<46}{statistics.median(values):>10.2f}   {runs}")


if __name__ == "__main__":
    main()
