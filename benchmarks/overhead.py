"""Per-step cost of training through tuneforge, against a plain PyTorch loop doing the same work.

Both sides train the same CNN on the same training split with the same batches, AdamW over the
same parameter groups, the same learning-rate schedule and cross-entropy: the default config's
CNN on digits, or with `--data fashion_mnist` experiment=fashion_mnist_cnn (a 3-block CNN on
Fashion-MNIST's 54,000 training images, channels-last on both sides), whose epochs
`--limit-batches` cuts short. The tuneforge side is `build()` on the default config as users run
it (TensorBoard logger, learning rate monitor, checkpoints, progress bar), with validation off.
To show where the overhead goes, a second row drops the configured callbacks and the logger
(Lightning then adds its own progress bar and checkpoint), and a third turns those off too.

Each epoch is timed from its start to its last optimizer step: data loading, forward, backward,
optimizer and scheduler steps, plus whatever tuneforge does per step. The first `--warmup`
epochs are not counted. Epoch-end work (checkpoints, epoch metrics) is left out on purpose: it is
paid once per epoch, like validation, not per step. Variants run interleaved, `--repeats` times
each, the order reversed every other repeat; the table shows the median ms/step over the timed
epochs of all runs, which a burst of other work on the machine moves less than it moves a mean.
"vs plain" is the median over repeats of each run's ratio to the plain run of the same repeat,
which keeps the machine's slow drift in speed out of the ratio.

Rich draws the progress bar only when stdout is a terminal: run this from a terminal (or with
TTY_COMPATIBLE=1) to count the drawing too.

A model that does almost nothing shows what a step costs the framework itself, which adds the
same milliseconds to any model's step: `model=mlp model.width=8 model.depth=1`.

Run: .venv/bin/python benchmarks/overhead.py [--epochs 8] [--repeats 5] [--batch-size 64]
     .venv/bin/python benchmarks/overhead.py --data fashion_mnist --epochs 3 --limit-batches 100
     .venv/bin/python benchmarks/overhead.py model=mlp model.width=8 model.depth=1
"""

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf
from torch.nn import functional as F

from tuneforge.configs import config_dir
from tuneforge.run.build import build, build_model
from tuneforge.tasks.param_groups import decay_groups

GOAL = 1.03
# Debian's dataset-fashion-mnist package puts the IDX files here.
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"
PLAIN = "plain PyTorch loop"
NO_VALIDATION = ["trainer.limit_val_batches=0", "+trainer.num_sanity_val_steps=0"]
# Row label -> overrides on top of the default config.
BARE = ["callbacks=none", "logger=none"]
TUNEFORGE_VARIANTS = {
    "tuneforge train (default)": [],
    "  callbacks=none logger=none": BARE,
    "  + no progress bar, no checkpoints": [
        *BARE,
        "+trainer.enable_progress_bar=false",
        "+trainer.enable_checkpointing=false",
    ],
}


class EpochTimer(L.Callback):
    """Records each training epoch's milliseconds per optimizer step, start to last step."""

    def __init__(self) -> None:
        self.ms_per_step: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start, self._step = time.perf_counter(), trainer.global_step

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        steps = trainer.global_step - self._step
        self.ms_per_step.append(1000 * (time.perf_counter() - self._start) / steps)


def compose_train(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        return compose("train", overrides=overrides)


def schedule(node: DictConfig) -> Callable[..., Any]:
    """The schedule factory a scheduler config names (warmup_cosine, warmup_stable_decay, ...)."""
    return get_method(node._target_)


def arguments(node: DictConfig) -> dict:
    """A config node's constructor arguments, without Hydra's `_target_` and `_partial_`."""
    return {k: v for k, v in OmegaConf.to_container(node).items() if not k.startswith("_")}


def train_plain(cfg: DictConfig, epochs: int, limit: int | None) -> list[float]:
    """The config's data, model, optimizer and schedule, in a hand-written loop of at most
    `limit` batches per epoch.

    Returns:
        Milliseconds per optimizer step of each epoch.
    """
    torch.manual_seed(cfg.seed)
    data = instantiate(cfg.data)
    data.setup("fit")
    loader = data.train_dataloader()
    steps = min(len(loader), limit or len(loader))
    model = build_model(cfg.model, data.spec)
    channels_last = cfg.task.get("channels_last", False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(decay_groups(model), **arguments(cfg.optimizer))
    scheduler = schedule(cfg.scheduler)(
        optimizer, total_steps=epochs * steps, **arguments(cfg.scheduler)
    )
    model.train()
    ms_per_step = []
    for _ in range(epochs):
        start = time.perf_counter()
        for _, (x, y) in zip(range(steps), loader, strict=False):
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y, label_smoothing=cfg.task.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        ms_per_step.append(1000 * (time.perf_counter() - start) / steps)
    return ms_per_step


def train_tuneforge(cfg: DictConfig) -> list[float]:
    """`build()` and fit `cfg`; milliseconds per optimizer step of each epoch."""
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as run_dir:
        built = build(cfg, Path(run_dir))
        # First in line, so the epoch ends before the other callbacks' epoch-end work.
        built.trainer.callbacks.insert(0, timer)
        built.trainer.fit(built.task, datamodule=built.datamodule)
    return timer.ms_per_step


def interleaved(
    runs: dict[str, Callable[[], list[float]]], repeats: int, warmup: int
) -> dict[str, list[list[float]]]:
    """Every run `repeats` times, taking turns, the order reversed every other repeat so that no
    side always follows the same one; per label, each repeat's ms/step after `warmup` epochs."""
    times: dict[str, list[list[float]]] = {label: [] for label in runs}
    for repeat in range(repeats):
        labels = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for label in labels:
            times[label].append(runs[label]()[warmup:])
    return times


def paired_ratios(times: dict[str, list[list[float]]], label: str) -> list[float]:
    """Per repeat, `label`'s median epoch over the plain loop's in the same repeat.

    Runs of one repeat follow each other within a minute or two, while a shared machine's speed
    drifts by several percent over longer spans: pairing the neighbours keeps that drift out of
    the ratio, where a ratio of pooled medians would take it in."""
    return [
        statistics.median(epochs) / statistics.median(plain)
        for epochs, plain in zip(times[label], times[PLAIN], strict=True)
    ]


def pooled(times: dict[str, list[list[float]]]) -> dict[str, list[float]]:
    """Every timed epoch of each label, whatever its repeat."""
    return {label: [ms for run in runs for ms in run] for label, runs in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="epochs per run, warmup included")
    parser.add_argument("--warmup", type=int, default=1, help="first epochs left out of the time")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each variant")
    parser.add_argument("--batch-size", type=int, default=64, help="data.batch_size of every run")
    parser.add_argument("--data", choices=["digits", "fashion_mnist"], default="digits")
    parser.add_argument("--data-root", default=FASHION_MNIST_ROOT, help="Fashion-MNIST's folder")
    parser.add_argument("--limit-batches", type=int, help="training batches per epoch (all)")
    parser.add_argument(
        "--stripped",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the rows without callbacks (--no-stripped: more repeats in the same time)",
    )
    parser.add_argument(
        "overrides", nargs="*", help="more overrides for both sides, e.g. model=mlp"
    )
    args = parser.parse_args()
    if not 0 <= args.warmup < args.epochs:
        parser.error("--warmup must be at least 0 and below --epochs")
    load = os.getloadavg()[0]  # other work on the machine skews every row
    # Lightning's once-per-fit messages (devices, model summary) would bury the table.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    data = []
    if args.data == "fashion_mnist":
        data = ["experiment=fashion_mnist_cnn", f"data.root={args.data_root}"]
    if args.limit_batches:
        data.append(f"trainer.limit_train_batches={args.limit_batches}")
    configs = {
        label: compose_train(
            [
                *overrides,
                *data,
                *args.overrides,
                f"trainer.max_epochs={args.epochs}",
                f"data.batch_size={args.batch_size}",
                *NO_VALIDATION,
            ]
        )
        for label, overrides in TUNEFORGE_VARIANTS.items()
        if args.stripped or not overrides
    }
    default = next(iter(configs))
    runs = {
        PLAIN: partial(train_plain, configs[default], args.epochs, args.limit_batches),
        **{label: partial(train_tuneforge, cfg) for label, cfg in configs.items()},
    }

    by_repeat = interleaved(runs, args.repeats, args.warmup)
    times = pooled(by_repeat)
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(
        f"\n{args.repeats} runs x {args.epochs - args.warmup} epochs timed per variant, after "
        f"{args.warmup} warmup epoch(s); {args.data}, batch {configs[default].data.batch_size}, "
        f"{torch.get_num_threads()} torch threads, load average {load:.2f} at start\n"
    )
    print(f"{'variant':<38}{'ms/step':>9}{'min':>8}{'max':>8}{'vs plain':>10}")
    for label, values in times.items():
        ratio = statistics.median(paired_ratios(by_repeat, label))
        print(
            f"{label:<38}{medians[label]:>9.2f}{min(values):>8.2f}{max(values):>8.2f}{ratio:>10.3f}"
        )
    ratios = paired_ratios(by_repeat, default)
    print(f"\n{default}, per repeat: " + " ".join(f"{r:.3f}" for r in ratios))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\ngoal: {default} <= {GOAL:.2f} x plain: {verdict} ({ratio:.2f})")


if __name__ == "__main__":
    main()
