"""Peak resident memory (RSS) of the default `tuneforge train`, against a plain PyTorch loop.

The plain side imports torch and scikit-learn only, and trains the same CNN (tuneforge.models,
which imports nothing but torch) on the same digits splits with AdamW and cross-entropy,
evaluating the validation split after each epoch and the test split at the end, as the default
run does. The tuneforge side is the `tuneforge train` command on the default config (TensorBoard
logger, checkpoints, the default callbacks, the test of the best checkpoint), with
`trainer.max_epochs` set to the same number of epochs. Two more rows show where the difference
lies: the floor of any process that imports torch, and the same model and data fitted and tested
by a bare LightningModule with Lightning's own Trainer defaults (its TensorBoard logger,
checkpoint and progress bar), which is what Lightning holds before tuneforge adds anything.

Each run is a process of its own, and its peak RSS is what the kernel reports for it when it
ends (wait4's ru_maxrss): imports, data, model, optimizer, every library's buffers, and what the
interpreter touches while it shuts down (for torch, about 125 MiB more than it held while
running). The runs take turns `--repeats` times; the table shows the median.

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
FLOOR = "python -c 'import torch'"
PLAIN = "plain PyTorch loop"
LIGHTNING = "Lightning Trainer, its defaults"
DEFAULT = "tuneforge train (default)"


def digits_splits() -> dict:
    """The default run's digits splits (stratified 70/10/20), standardized by the training split's
    statistics, as TensorDatasets."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torch.utils.data import TensorDataset

    torch.manual_seed(42)
    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train, rest = train_test_split(np.arange(len(labels)), test_size=0.3, stratify=labels)
    val, test = train_test_split(rest, test_size=2 / 3, stratify=labels[rest])
    mean, std = images[train].mean(), images[train].std()
    indices = {"train": train, "val": val, "test": test}
    return {k: TensorDataset((images[i] - mean) / std, labels[i]) for k, i in indices.items()}


def default_cnn():
    from tuneforge.models.cnn import CNN

    return CNN(input_shape=(1, 8, 8), num_classes=10, width=32, depth=2, dropout=0.1)


def plain_loop(epochs: int) -> None:
    """The default run's data, model and optimizer in a hand-written loop (the child's work)."""
    import torch
    from torch.nn import functional as F
    from torch.utils.data import DataLoader

    split = digits_splits()
    model = default_cnn()
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


def lightning_trainer(epochs: int, run_dir: str) -> None:
    """The same model and data in a minimal LightningModule, fitted and tested by a Trainer with
    Lightning's own defaults (TensorBoard logger, checkpoint, progress bar): what Lightning
    itself holds, without tuneforge (the child's work)."""
    import lightning as L
    import torch
    from torch.nn import functional as F
    from torch.utils.data import DataLoader

    split = digits_splits()

    class Classifier(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = default_cnn()

        def training_step(self, batch, batch_idx: int) -> torch.Tensor:
            return F.cross_entropy(self.model(batch[0]), batch[1])

        def validation_step(self, batch, batch_idx: int) -> None:
            self.log("val/loss", F.cross_entropy(self.model(batch[0]), batch[1]))

        def test_step(self, batch, batch_idx: int) -> None:
            self.log("test/loss", F.cross_entropy(self.model(batch[0]), batch[1]))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=3e-3, weight_decay=0.05)

    task = Classifier()
    trainer = L.Trainer(max_epochs=epochs, default_root_dir=run_dir)
    trainer.fit(task, DataLoader(split["train"], 64, shuffle=True), DataLoader(split["val"], 64))
    trainer.test(task, DataLoader(split["test"], 64))


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
    parser.add_argument("--child", choices=["plain", "lightning"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "plain":
        plain_loop(args.epochs)
        return
    if args.child == "lightning":
        lightning_trainer(args.epochs, os.getcwd())
        return

    load = os.getloadavg()[0]
    child = [sys.executable, __file__, f"--epochs={args.epochs}", "--child"]
    commands = {
        FLOOR: [sys.executable, "-c", "import torch"],
        PLAIN: [*child, "plain"],
        LIGHTNING: [*child, "lightning"],
        DEFAULT: [TUNEFORGE, "train", f"trainer.max_epochs={args.epochs}"],
    }
    peaks: dict[str, list[float]] = {label: [] for label in commands}
    with tempfile.TemporaryDirectory() as cwd:
        for repeat in range(args.repeats):
            for label, command in commands.items():
                run_dir = Path(cwd, f"{label.split()[0]}{repeat}")
                run_dir.mkdir()
                if label == DEFAULT:
                    command = [*command, f"hydra.run.dir={run_dir}"]
                peaks[label].append(peak_rss_mib(command, str(run_dir)))

    medians = {label: statistics.median(values) for label, values in peaks.items()}
    print(f"\n{args.repeats} runs of {args.epochs} epochs each, load average {load:.2f} at start\n")
    print(f"{'run':<34}{'peak RSS MiB':>14}{'vs plain':>10}   runs")
    for label, values in peaks.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        ratio = medians[label] / medians[PLAIN]
        print(f"{label:<34}{medians[label]:>14.0f}{ratio:>10.2f}   {runs}")
    ratio = medians[DEFAULT] / medians[PLAIN]
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\ngoal: {DEFAULT} <= {GOAL:.2f} x plain: {verdict} ({ratio:.2f})")


if __name__ == "__main__":
    main()
