"""Language-model training on one CUDA GPU (written for an H100-class device): throughput and
MFU of three models, and nanoGPT's shakespeare-char run timed to its validation loss.

1. Throughput, each model eager and `compile()`d, side by side in one run, in tuneforge's
   LanguageModelingTask under Lightning: bf16-mixed, TF32 matmuls, AdamW and gradient clipping
   (torch's default AdamW, a foreach loop on CUDA, as `tuneforge train trainer=gpu` runs it:
   Lightning cannot clip the gradients of a fused step under mixed precision), on random tokens
   (the data does not change the step's cost). The models:
   - gpt2_small: GPT-2 small's shape (12 layers, 12 heads, 768 wide, context 1024, GPT-2's
     vocabulary padded to 50,304: 124M parameters), batch 16;
   - llama_smollm2_135m: tuneforge's Llama preset conf/model/llama_smollm2_135m.yaml
     (SmolLM2-135M's shape, vocabulary 49,152), context 2048, batch 16;
   - llama_1b: the preset conf/model/llama_1b.yaml (TinyLlama-1.1B's shape, vocabulary 32,000),
     context 2048, batch 4.
   Tokens per second are timed over the steps after `--warmup`; MFU is the model's own
   `flops_per_token(context)` (6 per parameter plus attention) times tokens per second over the
   device's bf16 peak from Lightning's table (the one callbacks/throughput.py reports MFU with).
   The goal, for H100/H200-class GPUs: MFU >= 40 % in bf16 with compile.
2. nanoGPT's GPU configuration for shakespeare-char (6 layers, 6 heads, 384 wide, context 256,
   batch 64, dropout 0.2, lr 1e-3 with 100 warmup steps and cosine decay to 1e-4, 5,000 steps,
   compiled, bf16): `tuneforge train experiment=gpt_shakespeare_char` with those values,
   validating every 250 steps on 200 batches as nanoGPT does. nanoGPT's README reports val loss
   1.4697 after about 3 minutes on an A100; this reports the time and step at which tuneforge's
   run first reaches it, and its last val loss.

Run: .venv/bin/python benchmarks/gpu.py --data PATH/tinyshakespeare.txt [--steps 50]
     .venv/bin/python benchmarks/gpu.py --skip-nanogpt  (throughput only)
     .venv/bin/python benchmarks/gpu.py --skip-nanogpt --models llama_1b --batch llama_1b=8
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import lightning as L
import torch
from _child import child_env
from _val_loss_times import FILE_VARIABLE
from omegaconf import OmegaConf

from tuneforge.configs import config_dir

TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
MFU_GOAL = 0.40
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


@dataclass(frozen=True)
class Setup:
    """A model to time: its class (GPT or Llama), the sizes it is built with (vocab_size and
    block_size among them: the context it trains on) and its batch."""

    model: type
    sizes: dict
    batch: int

    @property
    def context(self) -> int:
        return self.sizes["block_size"]

    @property
    def vocab_size(self) -> int:
        return self.sizes["vocab_size"]

    def build(self) -> torch.nn.Module:
        return self.model(**self.sizes)


def llama_preset(name: str, vocab_size: int, context: int) -> dict:
    """The sizes of tuneforge's Llama preset conf/model/NAME.yaml, with the vocabulary and
    context that the data would give it."""
    sizes = OmegaConf.to_container(OmegaConf.load(config_dir() / "model" / f"{name}.yaml"))
    sizes.pop("_target_")
    return {**sizes, "vocab_size": vocab_size, "block_size": context}


def setups() -> dict[str, Setup]:
    """The models timed, by the name `--models` chooses them with, at batches that fit an 80 GB
    H100 eager and compiled."""
    from tuneforge.models import GPT, Llama

    return {
        "gpt2_small": Setup(GPT, {**GPT2_SMALL, "dropout": 0.0, "bias": False}, batch=16),
        "llama_smollm2_135m": Setup(
            Llama, llama_preset("llama_smollm2_135m", 49152, 2048), batch=16
        ),
        "llama_1b": Setup(Llama, llama_preset("llama_1b", 32000, 2048), batch=4),
    }


class StepTimes(L.Callback):
    """Seconds of each optimizer step, end to end (synchronised with a CUDA device)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    @staticmethod
    def _synchronize(pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._synchronize(pl_module)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._synchronize(pl_module)
        self.seconds.append(time.perf_counter() - self._start)


def random_tokens(setup: Setup, steps: int) -> torch.utils.data.DataLoader:
    """`steps` batches of (inputs, next tokens) drawn from the model's vocabulary."""
    windows = torch.randint(setup.vocab_size, (setup.batch * steps, setup.context + 1))
    dataset = torch.utils.data.TensorDataset(windows[:, :-1], windows[:, 1:])
    return torch.utils.data.DataLoader(
        dataset, batch_size=setup.batch, pin_memory=torch.cuda.is_available()
    )


def throughput(
    setup: Setup, compiled: bool, steps: int, warmup: int, accelerator: str = "gpu"
) -> dict:
    """Tokens per second, MFU and peak memory of the model's training steps on one device;
    MFU and memory are None where Lightning knows no bf16 peak or the device is not CUDA."""
    from lightning.fabric.utilities.throughput import get_available_flops

    from tuneforge.tasks import LanguageModelingTask

    torch.manual_seed(0)
    model = setup.build()
    if compiled:
        model.compile()
    optimizer = partial(torch.optim.AdamW, lr=6e-4, weight_decay=0.1, betas=(0.9, 0.95))
    task = LanguageModelingTask(model, optimizer)
    timer = StepTimes()
    trainer = L.Trainer(
        accelerator=accelerator,
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
    cuda = trainer.strategy.root_device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.fit(task, train_dataloaders=random_tokens(setup, warmup + steps))
    step_seconds = statistics.median(timer.seconds[warmup:])
    tokens_per_second = setup.batch * setup.context / step_seconds
    peak = get_available_flops(trainer.strategy.root_device, torch.bfloat16)
    achieved = model.flops_per_token(setup.context) * tokens_per_second
    return {
        "params": model.num_params(),
        "ms_per_step": 1000 * step_seconds,
        "tokens_per_second": tokens_per_second,
        "mfu": achieved / peak if peak else None,
        "memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
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


def batch_override(text: str) -> tuple[str, int]:
    """`--batch NAME=N`, as (NAME, N)."""
    name, _, batch = text.partition("=")
    if not batch.isdigit() or int(batch) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give MODEL=BATCH, e.g. llama_1b=8")
    return name, int(batch)


def arguments(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="tinyshakespeare.txt, for the nanoGPT run")
    parser.add_argument("--models", nargs="+", choices=names, default=names, help="to time")
    parser.add_argument(
        "--batch", type=batch_override, action="append", default=[], help="MODEL=BATCH override"
    )
    parser.add_argument("--steps", type=int, default=50, help="timed steps per model and mode")
    parser.add_argument("--warmup", type=int, default=10, help="steps before the timing")
    parser.add_argument("--skip-nanogpt", action="store_true", help="throughput only")
    return parser


def print_throughput(name: str, setup: Setup, rows: dict[str, dict]) -> None:
    """One model's eager and compiled rows, its compile speed-up and its verdict on the goal."""
    eager, compiled = rows.values()
    size = f"{eager['params'] / 1e6:.0f}M parameters as MFU counts them"
    print(f"\n{name}, {size}, batch {setup.batch} x {setup.context} tokens")
    print(f"{'':<24}{'ms/step':>9}{'tokens/s':>11}{'MFU':>7}{'peak GiB':>10}")
    for label, row in rows.items():
        mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a"
        memory = f"{row['memory_gib']:.1f}" if row["memory_gib"] is not None else "n/a"
        print(
            f"{label:<24}{row['ms_per_step']:>9.1f}{row['tokens_per_second']:>11.0f}{mfu:>7}"
            f"{memory:>10}"
        )
    print(f"compile speed-up: {compiled['tokens_per_second'] / eager['tokens_per_second']:.2f}x")
    goal = f"goal: {name} MFU >= {MFU_GOAL:.0%} in bf16 with compile"
    if compiled["mfu"] is None:
        print(f"{goal}: not judged (Lightning's table has no bf16 peak for this GPU)")
    else:
        verdict = "met" if compiled["mfu"] >= MFU_GOAL else "NOT met"
        print(f"{goal}: {verdict} ({compiled['mfu']:.3f})")


def main() -> None:
    models = setups()
    parser = arguments(list(models))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu.py: no CUDA GPU on this machine; run it on one (an H100-class GPU)")
        sys.exit(1)
    if unknown := sorted({model for model, _ in args.batch} - set(models)):
        parser.error(f"--batch names {', '.join(unknown)}; the models are {', '.join(models)}")
    if not args.skip_nanogpt and not args.data:
        parser.error("--data PATH/tinyshakespeare.txt is needed for the nanoGPT run")
    torch.set_float32_matmul_precision("high")
    name = torch.cuda.get_device_name()
    batches = dict(args.batch)
    print(f"Training throughput on {name}, bf16-mixed, median of {args.steps} steps")
    for model in args.models:
        setup = replace(models[model], batch=batches.get(model, models[model].batch))
        rows = {
            label: throughput(setup, compiled, args.steps, args.warmup)
            for label, compiled in (("bf16-mixed", False), ("bf16-mixed + compile", True))
        }
        print_throughput(model, setup, rows)

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
