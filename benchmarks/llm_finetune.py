"""The same LoRA SFT of a causal LM through tuneforge, a plain PyTorch loop, TRL and LitGPT.

Every side fine-tunes the same weights (a Hugging Face folder, or a GGUF converted once by
tuneforge) with LoRA r=8, alpha 16 on every attention and MLP projection, AdamW at a constant
learning rate without weight decay, on the same instruction records rendered by the model's
chat template, the loss on the replies only, batch 8, for --steps optimizer steps.

- tuneforge: `tuneforge train data=instruct ...` as a user runs it (its default callbacks,
  checkpoints every --steps, TensorBoard), a callback timing each step.
- plain: the same model, adapters and batches (tuneforge's own data pipeline, so the batches are
  the same ones in the same order) in a hand-written loop: forward, token-mean cross-entropy on
  the trained tokens, backward, step. Same seed, so the first losses must agree.
- trl: `SFTTrainer` on prompt/completion records (its completion-only loss), with peft's
  LoraConfig(target_modules="all-linear").
- litgpt (with --litgpt SITE, a folder LitGPT is installed in: see _litgpt.py): the weights
  converted by `litgpt convert_to_litgpt` (not timed), then `litgpt finetune_lora` on the same
  records as alpaca JSON, the instruction and its input joined as tuneforge joins them, rendered
  by its "smollm2" prompt style (the model's template: the same prompt tokens), the prompt
  masked, LoRA on query, key, value, output and MLP projections, float32. Its steps are its own
  `iter_time`s (which include fetching the batch), read from its log; _litgpt.py says what it
  changes (a constant learning rate, no merge after training).

Each side is a process of its own; it reports milliseconds per step after --warmup steps, tokens
per second (the batch's real tokens), the loss at each step and its peak RSS (ru_maxrss). With
--rounds N every side runs N times, the sides taking turns, and a side's ms/step is the median of
its rounds', so that a shared machine's drift falls on every side alike.

Run: .venv/bin/python benchmarks/llm_finetune.py --model models/smollm2 \\
         --gguf SmolLM2-135M-Instruct.Q4_1.gguf --data data/tweets/train.jsonl [--steps 12] \\
         [--rounds 2] [--litgpt SITE]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from itertools import islice
from pathlib import Path

import _litgpt
from _step_report import peak_rss_mib, step_report

SIDES = ("plain", "tuneforge", "trl")
BATCH, RANK, ALPHA, LR, MAX_LENGTH, SEED = 8, 8, 16.0, 5e-4, 192, 42
LITGPT_NAME, LITGPT_PROMPT_STYLE = "SmolLM2-135M-Instruct", "smollm2"  # LitGPT's names for it
TUNEFORGE = str(Path(sys.executable).parent / "tuneforge")


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model folder")
    parser.add_argument("--gguf", default=None, help="a GGUF file's name in --model")
    parser.add_argument("--data", type=Path, required=True, help="Alpaca-style JSONL records")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each side, taking turns")
    parser.add_argument("--litgpt", type=Path, help="a folder LitGPT is installed in")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _records(path: Path, count: int, folder: Path) -> Path:
    """The first `count` records of `path`, as a file of their own."""
    lines = path.read_text(encoding="utf-8").split("\n")[:count]  # JSONL: \n ends a record
    out = folder / "records.jsonl"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _report(out: Path, times: list[float], tokens: list[int], losses: list[float], warmup: int):
    out.write_text(json.dumps(step_report(times, tokens, losses, warmup, peak_rss_mib())))


def _data_module(records: Path, tokenizer):
    from tuneforge.data import ChatDataModule

    data = ChatDataModule(str(records), format="alpaca", val_fraction=0.05, max_length=MAX_LENGTH)
    data.batch_size = BATCH
    data.use_tokenizer(tokenizer)
    data.setup("fit")
    return data


def run_plain(folder: Path, records: Path, args: argparse.Namespace) -> None:
    """A hand-written loop over tuneforge's model, adapters and batches (same seed, same order)."""
    import lightning as L
    import torch

    from tuneforge.finetune import add_lora
    from tuneforge.models import HFCausalLM
    from tuneforge.tasks.causal_lm import IGNORE

    L.seed_everything(SEED, workers=True, verbose=False)
    model = HFCausalLM(str(folder))
    data = _data_module(records, model.tokenizer)
    add_lora(model, rank=RANK, alpha=ALPHA)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = "lora_" in name
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=LR, weight_decay=0.0)
    times, tokens, losses = [], [], []
    batches = iter(data.train_dataloader())
    for _ in range(args.steps):
        batch = next(batches)
        started = time.perf_counter()
        logits = model(batch["input_ids"], position_ids=batch["position_ids"])[:, :-1]
        labels = batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
        tokens.append(int(batch["lengths"].sum()))
        losses.append(loss.item())
    _report(args.out, times, tokens, losses, args.warmup)


def run_tuneforge(folder: Path, records: Path, args: argparse.Namespace) -> None:
    """`tuneforge train` as a user runs it, with a callback that times each optimizer step."""
    with tempfile.TemporaryDirectory() as run_dir:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parent), STEP_TIMES=str(args.out))
        command = [
            TUNEFORGE,
            "train",
            "data=instruct",
            f"data.path={records}",
            f"model.path={folder}",
            f"data.batch_size={BATCH}",
            f"data.max_length={MAX_LENGTH}",
            "data.val_fraction=0.05",
            f"finetune.lora_rank={RANK}",
            f"finetune.lora_alpha={ALPHA}",
            f"optimizer.lr={LR}",
            "optimizer.weight_decay=0.0",
            "scheduler=constant",
            f"trainer.max_steps={args.steps}",
            "trainer.max_epochs=-1",
            "trainer.limit_val_batches=0",
            "test=false",
            f"checkpoint.every_n_steps={args.steps}",
            f"seed={SEED}",
            "+callbacks.step_times._target_=_step_times.StepTimes",
            f"+callbacks.step_times.warmup={args.warmup}",
            f"hydra.run.dir={run_dir}",
        ]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def run_trl(folder: Path, records: Path, args: argparse.Namespace) -> None:
    """TRL's SFTTrainer on prompt/completion records, LoRA through its peft_config."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in records.read_text().split("\n") if line.strip()]
    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": f"{r['instruction']}\n\n{r['input']}"}],
                "completion": [{"role": "assistant", "content": r["output"]}],
            }
            for r in rows
        ]
    )
    times: list[float] = []
    tokens: list[int] = []
    losses: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            times.append(time.perf_counter() - self.started)

        def on_log(self, _args, _state, _control, logs=None, **__):
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    config = SFTConfig(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=BATCH,
        max_steps=args.steps,
        learning_rate=LR,
        lr_scheduler_type="constant",
        weight_decay=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        max_length=MAX_LENGTH,
        seed=SEED,
        dataloader_num_workers=0,
    )
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    lora = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[Timer()],
    )
    loader = trainer.get_train_dataloader()
    tokens = [int(batch["attention_mask"].sum()) for batch in islice(loader, args.steps)]
    trainer.train()
    _report(args.out, times, tokens, losses, args.warmup)


def _alpaca_json(records: Path, folder: Path) -> Path:
    """The records as LitGPT's JSON data reads them: its chat prompt styles take the instruction
    only, so the input joins it as tuneforge joins them."""
    rows = [json.loads(line) for line in records.read_text().split("\n") if line.strip()]
    joined = [
        {
            "instruction": f"{r['instruction']}\n\n{r['input']}"
            if str(r.get("input") or "").strip()
            else r["instruction"],
            "output": r["output"],
        }
        for r in rows
    ]
    out = folder / "records.json"
    out.write_text(json.dumps(joined))
    return out


def run_litgpt(site: Path, checkpoint: Path, records: Path, folder: Path, args) -> dict:
    """`litgpt finetune_lora` on the records, as _litgpt.py runs it."""
    steps = _litgpt.finetune_lora(
        site,
        checkpoint,
        records,
        folder,
        steps=args.steps,
        batch=BATCH,
        max_length=MAX_LENGTH,
        lr=LR,
        rank=RANK,
        alpha=int(ALPHA),
        seed=SEED,
        prompt_style=LITGPT_PROMPT_STYLE,
    )
    return steps.summary(args.warmup)


def _model_folder(model: Path, gguf: str | None) -> Path:
    if gguf is None:
        return model
    from tuneforge.models.hf_causal_lm import gguf_cached_folder

    return gguf_cached_folder(model, gguf).folder


def _side(args: argparse.Namespace) -> None:
    folder = _model_folder(args.model, args.gguf)
    records = args.data
    {"plain": run_plain, "tuneforge": run_tuneforge, "trl": run_trl}[args.side](
        folder, records, args
    )


def _run_side(side: str, args: argparse.Namespace, records: Path, scratch: Path) -> dict:
    out = scratch / f"{side}.json"
    command = [sys.executable, __file__, f"--model={args.model}", f"--data={records}"]
    command += [f"--steps={args.steps}", f"--warmup={args.warmup}"]
    command += [f"--side={side}", f"--out={out}"]
    command += [f"--gguf={args.gguf}"] if args.gguf else []
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def _median_round(rounds: list[dict]) -> dict:
    """The round whose ms/step is the median (the lower middle one of an even count)."""
    return sorted(rounds, key=lambda r: r["ms_per_step"])[(len(rounds) - 1) // 2]


def main() -> None:
    args = _arguments()
    if args.side:
        _side(args)
        return
    folder = _model_folder(args.model, args.gguf)  # convert once, before any side is timed
    runs: dict[str, list[dict]] = {}
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as temporary:
        scratch = Path(temporary)
        records = _records(args.data, BATCH * (args.steps + 4) * 2, scratch)
        sides: dict = {side: partial(_run_side, side, args, records, scratch) for side in SIDES}
        if args.litgpt is None:
            print(_litgpt.SKIPPED)
        else:
            checkpoint = _litgpt.convert(args.litgpt, folder, LITGPT_NAME, scratch / "litgpt")
            litgpt_records = _alpaca_json(records, scratch)
            sides["litgpt"] = lambda: run_litgpt(
                args.litgpt, checkpoint, litgpt_records, Path(tempfile.mkdtemp(dir=scratch)), args
            )
        for number in range(1, args.rounds + 1):
            for side, run in sides.items():
                result = run()
                runs.setdefault(side, []).append(result)
                print(
                    f"round {number} {side}: {result['ms_per_step']:.0f} ms/step, "
                    f"{result['tokens_per_second']:.0f} tokens/s, "
                    f"{result['peak_rss_mib']:.0f} MiB, losses "
                    + " ".join(f"{loss:.4f}" for loss in result["losses"]),
                    flush=True,
                )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    results = {side: _median_round(rounds) for side, rounds in runs.items()}
    plain = results["plain"]
    print(
        f"{args.steps} steps of batch {BATCH}, LoRA r={RANK}, lr {LR}, max_length {MAX_LENGTH}, "
        f"{args.rounds} round(s); ms/step of each round:"
    )
    for side, rounds in runs.items():
        print(f"  {side}: " + " ".join(f"{r['ms_per_step']:.0f}" for r in rounds))
    print(
        f"{'side':<10}{'ms/step':>9}{'tokens/s':>10}{'peak RSS MiB':>14}{'step vs plain':>15}"
        f"{'RSS vs plain':>14}{'loss at 1':>11}{'loss at N':>11}"
    )
    for side, result in results.items():
        print(
            f"{side:<10}{result['ms_per_step']:>9.0f}{result['tokens_per_second']:>10.0f}"
            f"{result['peak_rss_mib']:>14.0f}"
            f"{result['ms_per_step'] / plain['ms_per_step']:>15.3f}"
            f"{result['peak_rss_mib'] / plain['peak_rss_mib']:>14.3f}"
            f"{result['losses'][0]:>11.4f}{result['losses'][-1]:>11.4f}"
        )
    first = min(len(plain["losses"]), len(results["tuneforge"]["losses"]), 4)
    gap = max(
        abs(a - b)
        for a, b in zip(
            plain["losses"][:first], results["tuneforge"]["losses"][:first], strict=True
        )
    )
    print(f"tuneforge vs plain, largest loss difference over the first {first} steps: {gap:.2e}")


if __name__ == "__main__":
    main()
