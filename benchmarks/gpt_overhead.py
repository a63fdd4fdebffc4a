"""Per-step cost of pretraining the GPT through tuneforge, against a plain PyTorch loop.

Both sides train `experiment=gpt_shakespeare_char` (nanoGPT's CPU configuration: 4 layers, 4
heads, 128 wide, context 64, batch 12) on tiny Shakespeare: the same model, the same random
windows from the same token file, AdamW over the same parameter groups, the same learning-rate
schedule, gradient clipping at 1.0 and next-token cross-entropy. The tuneforge side is `build()` on
the experiment as users run it (TensorBoard logger, learning-rate monitor, checkpoints, progress
bar, the text-sample callback), with validation off; the plain side is the loop nanoGPT's
train.py runs. Epochs are timed as in overhead.py (start to last optimizer step, median over the
timed epochs of interleaved runs, the ratio paired by repeat). Throughput is reported from the
model's `flops_per_token`.

Run: .venv/bin/python benchmarks/gpt_overhead.py --data PATH/tinyshakespeare.txt [--steps 200]
"""

import argparse
import logging
import os
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from omegaconf import DictConfig
from overhead import (
    PLAIN,
    arguments,
    compose_train,
    interleaved,
    paired_ratios,
    pooled,
    schedule,
    train_tuneforge,
)
from torch.nn import functional as F

from tuneforge.data import TextLMDataModule
from tuneforge.models import GPT
from tuneforge.tasks.param_groups import decay_groups

GOAL = 1.03
TUNEFORGE = "tuneforge train"


def train_plain(cfg: DictConfig, epochs: int, cache: str) -> list[float]:
    """The experiment's data, model, optimizer and schedule in a hand-written loop: ms per step
    of each epoch."""
    torch.manual_seed(cfg.seed)
    data = TextLMDataModule(**arguments(cfg.data) | {"cache_dir": cache})
    data.setup("fit")
    loader = data.train_dataloader()
    model = GPT(**{k: data.spec[k] for k in ("vocab_size", "block_size")}, **arguments(cfg.model))
    optimizer = torch.optim.AdamW(decay_groups(model), **arguments(cfg.optimizer))
    scheduler = schedule(cfg.scheduler)(
        optimizer, total_steps=epochs * len(loader), **arguments(cfg.scheduler)
    )
    model.train()
    ms_per_step = []
    for _ in range(epochs):
        start = time.perf_counter()
        for x, y in loader:
            logits = model(x)
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
            optimizer.step()
            scheduler.step()
        ms_per_step.append(1000 * (time.perf_counter() - start) / len(loader))
    return ms_per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="tinyshakespeare.txt")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, warmup included")
    parser.add_argument("--warmup", type=int, default=1, help="first epochs left out of the time")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side")
    parser.add_argument("overrides", nargs="*", help="more overrides, e.g. data.batch_size=32")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.epochs:
        parser.error("--warmup must be at least 0 and below --epochs")
    load = os.getloadavg()[0]
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as cache:
        cfg = compose_train(
            [
                "experiment=gpt_shakespeare_char",
                f"data.path={Path(args.data).resolve()}",
                f"data.cache_dir={cache}",
                f"data.batches_per_epoch={args.steps}",
                f"trainer.max_epochs={args.epochs}",
                "trainer.max_steps=-1",
                "trainer.limit_val_batches=0",
                "+trainer.num_sanity_val_steps=0",
                *args.overrides,
            ]
        )
        runs = {
            PLAIN: partial(train_plain, cfg, args.epochs, cache),
            TUNEFORGE: partial(train_tuneforge, cfg),
        }
        by_repeat = interleaved(runs, args.repeats, args.warmup)
    times = pooled(by_repeat)

    medians = {label: statistics.median(values) for label, values in times.items()}
    model = GPT(vocab_size=66, block_size=cfg.data.block_size, **arguments(cfg.model))
    tokens_per_step = cfg.data.batch_size * cfg.data.block_size
    print(
        f"\n{args.repeats} runs x {args.epochs - args.warmup} epochs of {args.steps} steps timed "
        f"per side; batch {cfg.data.batch_size} x {cfg.data.block_size} tokens, "
        f"{model.num_params() / 1e6:.2f}M parameters, {torch.get_num_threads()} torch threads, "
        f"load average {load:.2f} at start\n"
    )
    print(f"{'side':<22}{'ms/step':>9}{'min':>8}{'max':>8}{'tokens/s':>10}{'GFLOP/s':>9}")
    for label, values in times.items():
        per_second = tokens_per_step / (medians[label] / 1000)
        flops = per_second * model.flops_per_token() / 1e9
        print(
            f"{label:<22}{medians[label]:>9.2f}{min(values):>8.2f}{max(values):>8.2f}"
            f"{per_second:>10.0f}{flops:>9.1f}"
        )
    ratios = paired_ratios(by_repeat, TUNEFORGE)
    print(f"\n{TUNEFORGE}, per repeat: " + " ".join(f"{r:.3f}" for r in ratios))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\ngoal: {TUNEFORGE} <= {GOAL:.2f} x plain: {verdict} ({ratio:.3f})")


if __name__ == "__main__":
    main()
