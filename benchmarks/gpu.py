"""GPT training on one CUDA GPU (written for an H100-class device): throughput and MFU, and
nanoGPT's shakespeare-char run timed to its validation loss.

1. Throughput: GPT-2 small's shape (12 layers, 12 heads, 768 wide, context 1024, GPT-2's
   vocabulary padded to 50,304: 124M parameters) in tuneforge's LanguageModelingTask under
   Lightning, bf16-mixed, TF32 matmuls, fused AdamW and gradient clipping, on random tokens (the
   data does not change the step's cost), eager and `compile()`d, side by side in one run.
   Tokens per second are timed over the steps after `--warmup`; MFU is the model's own
   `flops_per_token` (6 per parameter plus attention) times tokens per second over the device's
   bf16 peak from Lightning's table (the one callbacks/throughput.py reports MFU with).
2. nanoGPT's GPU configuration for shakespeare-char (6 layers, 6 heads, 384 wide, context 256,
   batch 64, dropout 0.2, lr 1e-3 with 100 warmup steps and cosine decay to 1e-4, 5,000 steps,
   compiled, bf16): `tuneforge train experiment=gpt_shakespeare_char` with those values,
   validating every 250 steps on 200 batches as nanoGPT does. nanoGPT's README reports val loss
   1.4697 after about 3 minutes on an A100; this reports the time and step at which tuneforge's
   run first reaches it, and its last val loss.

Run: .venv/bin/python benchmarks/gpu.py --data PATH/tinyshakespeare.txt [--steps 50]
     .venv/bin/python benchmarks/gpu.py --skip-nanogpt  (throughput only)
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import lightning as L
import torch
from _child import child_env
from _val_loss_times import FILE_VARIABLE

TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
NANOGPT_VAL_LOSS = 1.4697
GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "vocab_size": 50304}
NANOGPT_CHAR = [
    "experiment=gpt_shakespeare_char",
    "scheduler=cosine",  # nanoGPT's schedule (the experiment's own is wsd)
    "trainer=gpu",
    "compile=true",
    "model.n_layer=6",
    "model.n_head=6",
    "model.n_embd=384",
    "model.dropout=0.2",
    "data.block_size=256",
    "data.batch_size=64",
    "data.batches_per_epoch=250",  # a validation every 250 steps
    "trainer.limit_val_batches=200",
    "optimizer.lr=1e-3",
    "scheduler.warmup_steps=100",
    "scheduler.min_lr_ratio=0.1",
    "trainer.max_steps=5000",
    "trainer.max_epochs=20",
    "test=false",
    "+callbacks.val_times._target_=_val_loss_times.ValLossTimes",
]


class StepTimes(L.Callback):
    """Seconds of each optimizer step, end to end, synchronised with the GPU."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self._start)


def random_tokens(batch: int, steps: int) -> torch.utils.data.DataLoader:
    """`steps` batches of (inputs, next tokens) drawn from GPT-2's vocabulary."""
    context = GPT2_SMALL["block_size"]
    windows = torch.randint(50257, (batch * steps, context + 1))
    dataset = torch.utils.data.TensorDataset(windows[:, :-1], windows[:, 1:])
    return torch.utils.data.DataLoader(dataset, batch_size=batch, pin_memory=True)


def gpt2_small_throughput(compiled: bool, batch: int, steps: int, warmup: int) -> dict:
    """Tokens per second, MFU and peak memory of GPT-2 small's training steps."""
    from lightning.fabric.utilities.throughput import get_available_flops

    from tuneforge.models import GPT
    from tuneforge.tasks import LanguageModelingTask

    torch.manual_seed(0)
    model = GPT(**GPT2_SMALL, dropout=0.0, bias=False)
    if compiled:
        model.compile()
    optimizer = partial(torch.optim.AdamW, lr=6e-4, weight_decay=0.1, betas=(0.9, 0.95), fused=True)
    task = LanguageModelingTask(model, optimizer)
    timer = StepTimes()
    trainer = L.Trainer(
        accelerator="gpu",
        devices=1,
        precision="bf16-mixed",
        max_steps=warmup + steps,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    torch.cuda.reset_peak_memory_stats()
    trainer.fit(task, train_dataloaders=random_tokens(batch, warmup + steps))
    step_seconds = statistics.median(timer.seconds[warmup:])
    tokens_per_second = batch * GPT2_SMALL["block_size"] / step_seconds
    peak = get_available_flops(torch.device("cuda"), torch.bfloat16)
    achieved = model.flops_per_token() * tokens_per_second
    return {
        "params": model.num_params(),
        "ms_per_step": 1000 * step_seconds,
        "tokens_per_second": tokens_per_second,
        "mfu": achieved / peak if peak else None,
        "memory_gib": torch.cuda.max_memory_allocated() / 2**30,
    }


def nanogpt_char(data: str) -> list[dict]:
    """Each validation of tuneforge's run of nanoGPT's shakespeare-char GPU configuration."""
    with tempfile.TemporaryDirectory() as folder:
        times = Path(folder) / "val_times.jsonl"
        command = [
            TUNEFORGE,
            "train",
            *NANOGPT_CHAR,
            f"data.path={data}",
            f"hydra.run.dir={folder}/run",
        ]
        env = child_env(**{FILE_VARIABLE: str(times)})
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
        return [json.loads(line) for line in times.read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="tinyshakespeare.txt, for the nanoGPT run")
    parser.add_argument("--batch-size", type=int, default=16, help="GPT-2 small's batch")
    parser.add_argument("--steps", type=int, default=50, help="timed GPT-2 small steps")
    parser.add_argument("--warmup", type=int, default=10, help="steps before the timing")
    parser.add_argument("--skip-nanogpt", action="store_true", help="throughput only")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu.py: no CUDA GPU on this machine; run it on one (an H100-class GPU)")
        sys.exit(1)
    if not args.skip_nanogpt and not args.data:
        parser.error("--data PATH/tinyshakespeare.txt is needed for the nanoGPT run")
    torch.set_float32_matmul_precision("high")
    name = torch.cuda.get_device_name()

    rows = {
        label: gpt2_small_throughput(compiled, args.batch_size, args.steps, args.warmup)
        for label, compiled in (("bf16-mixed", False), ("bf16-mixed + compile", True))
    }
    print(f"\nGPT-2 small on {name}, batch {args.batch_size} x 1024 tokens, median of {args.steps}")
    print(f"{'':<24}{'ms/step':>9}{'tokens/s':>11}{'MFU':>7}{'peak GiB':>10}")
    for label, row in rows.items():
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        print(
            f"{label:<24}{row['ms_per_step']:>9.1f}{row['tokens_per_second']:>11.0f}{mfu:>7}"
            f"{row['memory_gib']:>10.1f}"
        )
    eager, compiled = (row["tokens_per_second"] for row in rows.values())
    print(f"compile speed-up: {compiled / eager:.2f}x ({rows['bf16-mixed']['params'] / 1e6:.0f}M)")

    if args.skip_nanogpt:
        return
    validations = nanogpt_char(args.data)
    reached = next((v for v in validations if v["val_loss"] <= NANOGPT_VAL_LOSS), None)
    last = validations[-1]
    print(
        f"\nnanoGPT shakespeare-char on {name} (nanoGPT: val loss {NANOGPT_VAL_LOSS}, ~3 min A100)"
    )
    if reached:
        at = f"step {reached['step']}, {reached['seconds']:.0f} s"
        print(f"val loss {reached['val_loss']:.4f} reached at {at}")
    else:
        print(f"val loss {NANOGPT_VAL_LOSS} not reached")
    print(f"last: val loss {last['val_loss']:.4f} at step {last['step']}, {last['seconds']:.0f} s")


if __name__ == "__main__":
    main()
