"""LitGPT's side of the benchmarks: run `litgpt` from a folder of its own and read back its steps.

LitGPT 0.5.13 pins huggingface_hub<1.4, which the project's transformers 5 cannot import, so it
is installed apart, into a folder (SITE) that goes on the child's PYTHONPATH, while torch,
lightning (>=2.6.1), tokenizers and huggingface_hub come from the project's environment (LitGPT
uses huggingface_hub only to download, which these runs never do):

    .venv/bin/pip install --target SITE --no-deps litgpt==0.5.13 litdata==0.2.59 \\
        'jsonargparse[signatures]<=4.41' docstring_parser typeshed_client tifffile \\
        boto3 botocore s3transfer jmespath obstore

Run as a script, this module is that child: `python _litgpt.py VERB ARGS...` is `litgpt VERB
ARGS...` with three changes, each for a like-for-like comparison and none inside a timed step:
- finetune_lora's learning rate is constant (its script has only warmup + cosine, and 0 warmup
  steps divides by zero), as on the other sides;
- finetune_lora does not merge the adapter into a full copy of the weights after training;
- the process's peak RSS is written to $LITGPT_PEAK_RSS when training ends (before any merge).

Each step's time is LitGPT's own `iter_time`, read from its CSV log: from before it fetches the
batch to after the loss reaches the host (forward, backward, optimizer step); the step's loss
and its token count come from the same log.
"""

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from _step_report import peak_rss_mib, step_report

VERSION = "0.5.13"
INSTALL = (
    f"pip install --target SITE --no-deps litgpt=={VERSION} litdata==0.2.59 "
    "'jsonargparse[signatures]<=4.41' docstring_parser typeshed_client tifffile boto3 botocore "
    "s3transfer jmespath obstore"
)
SKIPPED = f"litgpt: skipped (no --litgpt SITE; install LitGPT there with: {INSTALL})"


@dataclass
class Steps:
    """What LitGPT logged for each optimizer step, and its process's peak RSS."""

    seconds: list[float]
    tokens: list[int]
    losses: list[float]
    peak_rss_mib: float

    def summary(self, warmup: int) -> dict:
        """The keys every side of llm_finetune.py and pretrain.py reports."""
        return step_report(self.seconds, self.tokens, self.losses, warmup, self.peak_rss_mib)


def check_install(site: Path) -> None:
    """Stop with one line unless `site` holds LitGPT's package."""
    if not (site / "litgpt" / "__init__.py").is_file():
        sys.exit(
            f"error: --litgpt={site} holds no litgpt package; install it there with: {INSTALL}"
        )


def _litgpt(site: Path, verb: str, args: list[str], **env: str) -> None:
    """`litgpt VERB ARGS` with this module's changes, in a child with `site` on its path."""
    check_install(site)
    # This folder too: litdata's spawned workers import this module again, and _step_report
    # with it, without the script's folder that a plain `python _litgpt.py` puts on sys.path.
    here = str(Path(__file__).resolve().parent)
    pythonpath = os.pathsep.join(filter(None, [str(site), here, os.environ.get("PYTHONPATH")]))
    env = {"JSONARGPARSE_DEPRECATION_WARNINGS": "off", **os.environ, **env}
    env["PYTHONPATH"] = pythonpath
    command = [sys.executable, __file__, verb, *args]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)


def convert(site: Path, folder: Path, name: str, root: Path) -> Path:
    """`root/name`: the Hugging Face `folder`'s weights in LitGPT's format. LitGPT picks its
    model config by the folder's name, so `name` must be one of litgpt/config.py's."""
    checkpoint = root / name
    checkpoint.mkdir(parents=True, exist_ok=True)
    for file in folder.iterdir():  # links: the conversion adds files beside them
        (checkpoint / file.name).symlink_to(file.resolve())
    _litgpt(site, "convert_to_litgpt", [str(checkpoint)])
    return checkpoint


def run(site: Path, verb: str, args: list[str], out_dir: Path, **env: str) -> Steps:
    """`litgpt VERB ARGS` (with this module's changes) logging to `out_dir`; its steps."""
    peak = out_dir / "peak_rss.json"
    args = [*args, f"--out_dir={out_dir}", "--logger_name=csv"]
    _litgpt(site, verb, args, LITGPT_PEAK_RSS=str(peak), **env)
    rows = _logged_steps(out_dir / "logs" / "csv")
    tokens = [int(float(row["tokens"])) for row in rows]
    return Steps(
        seconds=[float(row["iter_time"]) for row in rows],
        tokens=[b - a for a, b in zip([0, *tokens], tokens, strict=False)],  # logged cumulatively
        losses=[float(row["loss"]) for row in rows],
        peak_rss_mib=json.loads(peak.read_text())["peak_rss_mib"],
    )


def _logged_steps(logs: Path) -> list[dict]:
    """The rows of LitGPT's CSV log that hold a training step (others hold throughput or val)."""
    (metrics,) = logs.glob("*/metrics.csv")
    with metrics.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("loss") and row.get("iter_time")]


def finetune_lora(site: Path, checkpoint: Path, records: Path, out_dir: Path, **settings) -> Steps:
    """`litgpt finetune_lora` on alpaca records with LoRA on every projection (not the head).

    settings: steps, batch, max_length, lr, rank, alpha, seed, prompt_style.
    """
    s = settings
    args = [
        str(checkpoint),
        "--precision=32-true",
        f"--lora_r={s['rank']}",
        f"--lora_alpha={s['alpha']}",
        "--lora_dropout=0.0",
        *(f"--lora_{part}=true" for part in ("query", "key", "value", "projection", "mlp")),
        "--lora_head=false",
        "--data=JSON",
        f"--data.json_path={records}",
        f"--data.prompt_style={s['prompt_style']}",
        "--data.mask_prompt=true",
        "--data.val_split_fraction=0.05",
        f"--data.seed={s['seed']}",
        "--data.num_workers=0",
        f"--train.global_batch_size={s['batch']}",
        f"--train.micro_batch_size={s['batch']}",
        f"--train.max_steps={s['steps']}",
        f"--train.max_seq_length={s['max_length']}",
        "--train.lr_warmup_steps=0",
        "--train.log_interval=1",
        f"--train.save_interval={s['steps']}",
        "--eval.interval=1000000",
        "--eval.final_validation=false",
        *_adamw(s["lr"], 0.0),
        f"--seed={s['seed']}",
    ]
    return run(site, "finetune_lora", args, out_dir)


def pretrain(
    site: Path, model: dict, data_dir: Path, tokenizer_dir: Path, out_dir: Path, **s
) -> Steps:
    """`litgpt pretrain` of the Llama `model` (litgpt.Config fields) on the .txt files in
    `data_dir` through its TextFiles module, from random weights LitGPT initializes its own way.

    settings: steps, batch, lr, weight_decay, max_norm, seed, compile (False: eager, as the other
    sides; True: the torch.compile LitGPT's pretrain always applies).
    """
    tokens = s["steps"] * s["batch"] * model["block_size"]
    args = [
        model["name"],
        *(f"--model_config.{key}={value}" for key, value in model.items()),
        "--precision=32-true",
        "--devices=1",
        "--data=TextFiles",
        f"--data.train_data_path={data_dir}",
        f"--data.val_data_path={data_dir}",
        f"--data.seed={s['seed']}",
        "--data.num_workers=0",
        f"--tokenizer_dir={tokenizer_dir}",
        f"--train.global_batch_size={s['batch']}",
        f"--train.micro_batch_size={s['batch']}",
        f"--train.max_tokens={tokens}",
        "--train.lr_warmup_steps=0",
        f"--train.min_lr={s['lr']}",  # cosine from lr to lr: constant
        f"--train.max_norm={s['max_norm']}",
        "--train.tie_embeddings=true",
        "--train.log_interval=1",
        "--train.save_interval=null",
        "--eval.interval=1000000",
        "--eval.final_validation=false",
        *_adamw(s["lr"], s["weight_decay"]),
        f"--seed={s['seed']}",
    ]
    eager = {} if s["compile"] else {"TORCHDYNAMO_DISABLE": "1"}  # torch.compile: a no-op
    return run(site, "pretrain", args, out_dir, **eager)


def _adamw(lr: float, weight_decay: float) -> list[str]:
    """torch's AdamW, its betas and eps at their defaults, as on the other sides."""
    init_args = {"lr": lr, "weight_decay": weight_decay}
    return [
        "--optimizer=" + json.dumps({"class_path": "torch.optim.AdamW", "init_args": init_args})
    ]


def _keep_peak_rss(module) -> None:
    """Make `module.fit` write the process's peak RSS to $LITGPT_PEAK_RSS when it returns."""
    fit = module.fit

    def fit_then_record(*args, **kwargs):
        result = fit(*args, **kwargs)
        peak = {"peak_rss_mib": peak_rss_mib()}
        Path(os.environ["LITGPT_PEAK_RSS"]).write_text(json.dumps(peak))
        return result

    module.fit = fit_then_record


def _child(verb: str) -> None:
    """Apply this module's changes to LitGPT, then run its command line."""
    import torch
    from litgpt import pretrain
    from litgpt.__main__ import main
    from litgpt.finetune import lora

    def constant(optimizer, **_):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    lora.get_lr_scheduler = constant
    lora.merge_lora = lambda **_: None
    if verb in ("finetune_lora", "pretrain"):
        _keep_peak_rss(lora if verb == "finetune_lora" else pretrain)
    main()


if __name__ == "__main__":
    del sys.path[0]  # this script's folder: its modules are not LitGPT's
    _child(sys.argv[1])
