"""Pretraining the same tiny Llama through tuneforge, a plain PyTorch loop, and LitGPT.

Every side trains a Llama of 4 blocks, 128 wide, 4 query and 2 key/value heads, a SwiGLU MLP of
384, RMSNorm, rotary positions and a tied output layer, from random weights, on tiny
Shakespeare tokenized by one byte-level BPE (trained here once, with the `tokenizers` library),
batch 16 x 128 tokens, AdamW at a constant learning rate without weight decay, gradients clipped
at 1.0, next-token cross-entropy on every position, float32, for --steps optimizer steps.

- tuneforge: `tuneforge train model=llama data=text_corpus ...` as a user runs it (its default
  callbacks, TensorBoard, a checkpoint at the end), a callback timing each step.
- plain: the same model class and the same batches (tuneforge's data module, so the windows are
  the same ones in the same order) in a hand-written loop. Same seed: the losses must agree.
- litgpt (with --litgpt SITE, a folder LitGPT is installed in: see _litgpt.py): `litgpt pretrain`
  with that shape as its model config, its TextFiles data (litdata token chunks of the same
  text, in its own shuffled order) and its own weight initialization; eager, as the other sides,
  unless --litgpt-compile keeps the torch.compile its pretrain applies.

Each side is a process of its own and reports milliseconds per step after --warmup steps (the
median), tokens per second, each step's loss and its peak RSS. Every step holds the same number
of tokens, so step k is the same number of tokens on every side. With --rounds N every side runs
N times, the sides taking turns, each round starting with the next side; ratios to the plain loop
(and to LitGPT) are paired by round.

Run: .venv/bin/python benchmarks/pretrain.py --data PATH/tinyshakespeare.txt [--steps 100] \\
         [--rounds 2] [--litgpt SITE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import _litgpt
from _child import child_env
from _step_report import peak_rss_mib, step_report

GOAL = 1.03
SHAPE = {"n_layer": 4, "n_head": 4, "n_kv_head": 2, "n_embd": 128, "intermediate_size": 384}
VOCAB, CONTEXT, BATCH, LR, MAX_NORM, SEED = 1024, 128, 16, 1e-3, 1.0, 42
EOS = "<|endoftext|>"
TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")
SIDES = ("plain", "tuneforge")


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="tinyshakespeare.txt")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of the time")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side, taking turns")
    parser.add_argument("--litgpt", type=Path, help="a folder LitGPT is installed in")
    parser.add_argument("--litgpt-compile", action="store_true", help="keep LitGPT's compile")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def train_tokenizer(text: Path, folder: Path) -> Path:
    """A byte-level BPE of VOCAB tokens (EOS among them) trained on `text`, saved in `folder` as
    tokenizer.json with the tokenizer_config.json LitGPT reads its special tokens from."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[EOS], initial_alphabet=alphabet)
    tokenizer.train([str(text)], trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {"bos_token": EOS, "eos_token": EOS, "tokenizer_class": "PreTrainedTokenizerFast"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def _report(out: Path, times: list[float], tokens: list[int], losses: list[float], warmup: int):
    out.write_text(json.dumps(step_report(times, tokens, losses, warmup, peak_rss_mib())))


def run_plain(data: Path, scratch: Path, args: argparse.Namespace) -> None:
    """tuneforge's model class and batches in a hand-written loop (same seed, same order)."""
    import lightning as L
    import torch
    from torch.nn import functional as F

    from tuneforge.data import TextCorpusDataModule
    from tuneforge.models import Llama

    L.seed_everything(SEED, workers=True, verbose=False)
    corpus = TextCorpusDataModule(
        str(data),
        tokenizer_file=str(scratch / "tokenizer" / "tokenizer.json"),
        block_size=CONTEXT,
        batch_size=BATCH,
        cache_dir=str(scratch / "cache"),
    )
    corpus.setup("fit")
    model = Llama(vocab_size=corpus.spec["vocab_size"], block_size=CONTEXT, **SHAPE)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    batches = iter(corpus.train_dataloader())
    times, tokens, losses = [], [], []
    for _ in range(args.steps):
        x, y = next(batches)
        started = time.perf_counter()
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)
        optimizer.step()
        times.append(time.perf_counter() - started)
        tokens.append(x.numel())
        losses.append(loss.item())
    _report(args.out, times, tokens, losses, args.warmup)


def run_tuneforge(data: Path, scratch: Path, args: argparse.Namespace) -> None:
    """`tuneforge train` as a user runs it, with a callback that times each optimizer step."""
    with tempfile.TemporaryDirectory() as run_dir:
        command = [
            TUNEFORGE,
            "train",
            "model=llama",
            "data=text_corpus",
            f"data.path={data}",
            f"data.tokenizer_file={scratch / 'tokenizer' / 'tokenizer.json'}",
            f"data.cache_dir={scratch / 'cache'}",
            f"data.block_size={CONTEXT}",
            f"data.batch_size={BATCH}",
            *(f"model.{key}={value}" for key, value in SHAPE.items()),
            f"optimizer.lr={LR}",
            "optimizer.weight_decay=0.0",
            "scheduler=constant",
            f"trainer.gradient_clip_val={MAX_NORM}",
            f"trainer.max_steps={args.steps}",
            "trainer.max_epochs=-1",
            "trainer.limit_val_batches=0",
            "test=false",
            f"seed={SEED}",
            "+callbacks.step_times._target_=_step_times.StepTimes",
            f"+callbacks.step_times.warmup={args.warmup}",
            f"hydra.run.dir={run_dir}",
        ]
        env = child_env(STEP_TIMES=str(args.out))
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def litgpt_config() -> dict:
    """The same Llama as a litgpt.Config: its names for the same sizes and layers."""
    return {
        "name": "tuneforge-llama-tiny",
        "block_size": CONTEXT,
        "vocab_size": VOCAB,
        "padded_vocab_size": VOCAB,  # LitGPT would round it up to a multiple of 512
        "n_layer": SHAPE["n_layer"],
        "n_head": SHAPE["n_head"],
        "n_query_groups": SHAPE["n_kv_head"],
        "n_embd": SHAPE["n_embd"],
        "intermediate_size": SHAPE["intermediate_size"],
        "norm_class_name": "RMSNorm",
        "norm_eps": 1e-5,
        "mlp_class_name": "LLaMAMLP",
        "bias": False,
        "parallel_residual": False,
        "rotary_percentage": 1.0,
        "rope_base": 10000,
    }


def run_litgpt(data: Path, scratch: Path, args: argparse.Namespace) -> dict:
    """`litgpt pretrain` of the same shape on the same text, as _litgpt.py runs it."""
    corpus = Path(tempfile.mkdtemp(dir=scratch))  # TextFiles reads *.txt, writes chunks beside
    (corpus / "input.txt").symlink_to(data.resolve())
    steps = _litgpt.pretrain(
        args.litgpt,
        litgpt_config(),
        corpus,
        scratch / "tokenizer",
        corpus / "out",
        steps=args.steps,
        batch=BATCH,
        lr=LR,
        weight_decay=0.0,
        max_norm=MAX_NORM,
        seed=SEED,
        compile=args.litgpt_compile,
    )
    return steps.summary(args.warmup)


def _run_side(side: str, args: argparse.Namespace, scratch: Path) -> dict:
    out = scratch / f"{side}.json"
    command = [sys.executable, __file__, f"--data={args.data.resolve()}", f"--steps={args.steps}"]
    command += [f"--warmup={args.warmup}", f"--side={side}", f"--scratch={scratch}", f"--out={out}"]
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def _print_table(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    medians = {
        side: statistics.median(r["ms_per_step"] for r in rounds) for side, rounds in runs.items()
    }
    last = min(10, args.steps)
    print(
        f"{'side':<12}{'ms/step':>9}{'min':>8}{'max':>8}{'tokens/s':>10}{'vs plain':>10}"
        f"{'peak RSS MiB':>14}{'loss at 1':>11}{f'last {last} mean':>14}"
    )
    for side, rounds in runs.items():
        times = [r["ms_per_step"] for r in rounds]
        losses = rounds[0]["losses"]
        print(
            f"{side:<12}{medians[side]:>9.1f}{min(times):>8.1f}{max(times):>8.1f}"
            f"{BATCH * CONTEXT / (medians[side] / 1000):>10.0f}"
            f"{medians[side] / medians['plain']:>10.3f}"
            f"{max(r['peak_rss_mib'] for r in rounds):>14.0f}"
            f"{losses[0]:>11.4f}{statistics.mean(losses[-last:]):>14.4f}"
        )


def main() -> None:
    args = _arguments()
    if args.side:
        run = {"plain": run_plain, "tuneforge": run_tuneforge}[args.side]
        run(args.data.resolve(), args.scratch, args)
        return
    if not 0 <= args.warmup < args.steps:
        sys.exit("error: --warmup must be at least 0 and below --steps")
    load = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        train_tokenizer(args.data, scratch / "tokenizer")
        sides: dict = {side: partial(_run_side, side, args, scratch) for side in SIDES}
        if args.litgpt is None:
            print(_litgpt.SKIPPED)
        else:
            sides["litgpt"] = partial(run_litgpt, args.data, scratch, args)
        order = list(sides)
        for round_number in range(args.rounds):
            # Each round starts with the next side, so that no side always runs in the same
            # place of the round while the machine's speed drifts.
            turn = round_number % len(order)
            for side in order[turn:] + order[:turn]:
                runs.setdefault(side, []).append(sides[side]())
    compiled = ", LitGPT compiled" if args.litgpt and args.litgpt_compile else ""
    print(
        f"\n{args.rounds} round(s) of {args.steps} steps per side, {args.warmup} left out of the "
        f"time; batch {BATCH} x {CONTEXT} tokens, vocabulary {VOCAB}{compiled}; load average "
        f"{load:.2f} at start, {os.getloadavg()[0]:.2f} at end\n"
    )
    _print_table(runs, args)
    tuneforge, plain = runs["tuneforge"], runs["plain"]
    gap = max(abs(a - b) for a, b in zip(plain[0]["losses"], tuneforge[0]["losses"], strict=True))
    print(f"\ntuneforge vs plain, largest loss difference over {args.steps} steps: {gap:.2e}")
    ratios = [t["ms_per_step"] / p["ms_per_step"] for t, p in zip(tuneforge, plain, strict=True)]
    print("tuneforge train, per round: " + " ".join(f"{r:.3f}" for r in ratios))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= GOAL else "NOT met"
    print(f"\ngoal: tuneforge train <= {GOAL:.2f} x plain: {verdict} ({ratio:.3f})")
    if "litgpt" in runs:
        _print_against_litgpt(tuneforge, runs["litgpt"])


def _print_against_litgpt(tuneforge: list[dict], litgpt: list[dict]) -> None:
    """The second goal, paired by round as the first: tuneforge's step no longer than LitGPT's
    (its tokens/s at least LitGPT's)."""
    ratios = [t["ms_per_step"] / g["ms_per_step"] for t, g in zip(tuneforge, litgpt, strict=True)]
    print("tuneforge / litgpt, per round: " + " ".join(f"{r:.3f}" for r in ratios))
    ratio = statistics.median(ratios)
    verdict = "met" if ratio <= 1.0 else "NOT met"
    print(f"goal: tuneforge train's tokens/s >= LitGPT's: {verdict} ({ratio:.3f} x its step)")


if __name__ == "__main__":
    main()
