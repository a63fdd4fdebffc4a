"""Peak resident memory (RSS) of the default `tuneforge train`, against a plain PyTorch loop.

The plain side imports torch and scikit-learn only, and trains the same CNN (tuneforge.models,
which imports nothing but torch) on the same digits splits with AdamW and cross-entropy,
evaluating the validation split after each epoch and the test split at the end, as the default
run does. The tuneforge side is the `tuneforge train` command on the default config (TensorBoard
logger, checkpoints, the default callbacks, the test of the best checkpoint), with
`trainer.max_epochs` set to the same number of epochs. Each run is a process of its own, and its
peak RSS is what the kernel reports for it when it ends (wait4's ru_maxrss): imports, data,
model, optimizer and every library's buffers. The two run interleaved `--repeats` times; the table
shows the median.

Run: .venv/bin/python benchmarks/memory.py [--epochs 2] [--repeats 3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

GOAL = 1.10
TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
PLAIN = "plain PyTorch loop"
DEFAULT = "tuneforge train (default)"


def plain_loop(epochs: int) -> None:
    """The default run's data, model and optimizer in a hand-written loop (the child's work)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch.nn import functional as F
    from torch.utils.data import DataLoader, TensorDataset

    from tuneforge.models.cnn import CNN

    torch.manual_seed(42)
    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train, rest = train_test_split(np.arange(len(labels)), test_size=0.3, stratify=labels)
    val, test = train_test_split(rest, test_size=2 / 3, stratify=labels[rest])
    mean, std = images[train].mean(), images[train].std()
    indices = {"train": train, "val": val, "test": test}
    split = {k: TensorDataset((images[i] - mean) / std, labels[i]) for k, i in indices.items()}
    model = CNN(input_shape=(1, 8, 8), num_classes=10, width=32, depth=2, dropout=0.1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)

    def evaluate(name: str) -> float:
        model.eval()
        with torch.no_grad():
            right = sum(
                (model(x).argmax(1) == y).sum().item() for x, y in DataLoader(split[name], 64)
            )
        model.train()
        return right / len(split[name])

    for _ in range(epochs):
        for x, y in DataLoader(split["train"], batch_size=64, shuffle=True):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        evaluate("val")
    print(f"test accuracy {evaluate('test'):.3f}")


def peak_rss_mib(command: list[str], cwd: str) -> float:
    """Runs `command` to its end; the peak resident memory the kernel counted for it, in MiB."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr.read().decode()}")
    return usage.ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of each run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    parser.add_argument("--plain-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_child:
        plain_loop(args.epochs)
        return

    load = os.getloadavg()[0]
    peaks: dict[str, list[float]] = {PLAIN: [], DEFAULT: []}
    with tempfile.TemporaryDirectory() as cwd:
        for repeat in range(args.repeats):
            plain = [sys.executable, __file__, "--plain-child", f"--epochs={args.epochs}"]
            peaks[PLAIN].append(peak_rss_mib(plain, cwd))
            run_dir = f"hydra.run.dir={cwd}/run{repeat}"
            command = [TUNEFORGE, "train", f"trainer.max_epochs={args.epochs}", run_dir]
            peaks[DEFAULT].append(peak_rss_mib(command, cwd))

    medians = {label: statistics.median(values) for label, values in peaks.items()}
    print(f"\n{args.repeats} runs of {args.epochs} epochs each, load average {load:.2f} at start\n")
    print(f"{'run':<30}{'peak RSS MiB':>14}{'vs plain':>10}   runs")
    for label, values in peaks.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        ratio = medians[label] / medians[PLAIN]
        print(f"{label:<30}{medians[label]:>14.0f}{ratio:>10.2f}   {runs}")
    ratio = medians[DEFAULT] / medians[PLAIN]
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\ngoal: {DEFAULT} <= {GOAL:.2f} x plain: {verdict} ({ratio:.2f})")


if __name__ == "__main__":
    main()
