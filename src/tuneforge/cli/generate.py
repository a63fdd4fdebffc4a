"""`tuneforge generate ckpt_path=PATH prompt=TEXT`: print text sampled from a language model.

A causal LM fine-tuned on chat (`model=hf_causal_lm`) answers `prompt` as a user turn, through
the chat template it trained with, its reply streamed as it comes (run/llm_chat.py).

The model is rebuilt from the checkpoint alone (its config, the data facts stored beside it, and
its tokenizer), so a checkpoint generates on a machine that does not have the training text.
"""

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tuneforge.atomic_files import write_atomic
from tuneforge.errors import CheckpointError, ConfigError
from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint
from tuneforge.run.from_checkpoint import stored_tokenizer, trained_model
from tuneforge.run.llm_chat import Sampling, chat_model, is_causal_lm_checkpoint
from tuneforge.run.validate import validate

log = logging.getLogger(__name__)

SEPARATOR = "-" * 40
SCHEMA: dict[str, Any] = {
    "prompt": str,
    "max_new_tokens": int,
    "temperature": float,
    "top_k": int | None,
    "top_p": float | None,
    "system": str | None,
    "num_samples": int,
    "seed": int,
    "device": str,
    "trust_config": bool,
}


def _check(cfg: DictConfig) -> None:
    """Types and ranges (through the schema's rules), then what the schema cannot say."""
    validate(cfg, SCHEMA)
    problems = []
    if cfg.device not in ("auto", "cpu", "cuda"):
        problems.append(f"device={cfg.device!r} is not valid; expected one of: auto, cpu, cuda")
    if not cfg.prompt:
        problems.append('prompt is empty; give the text to continue, e.g. prompt="ROMEO:"')
    if problems:
        raise ConfigError(*problems)


def _language_model(
    checkpoint: dict[str, Any], path: Path, cfg: DictConfig, run_dir: Path
) -> tuple[Any, Any]:
    """The trained model with its weights, and the tokenizer it was trained with."""
    from tuneforge.data.tokenizers import tokenizer_from_json

    model = trained_model(checkpoint, path, cfg.trust_config, cfg, run_dir)
    tokenizer_json = stored_tokenizer(checkpoint)
    if not hasattr(model, "generate") or tokenizer_json is None:
        raise CheckpointError(
            f"ckpt_path '{path}' holds a {type(model).__name__}, which does not generate text; "
            "point it at a language model's checkpoint (e.g. experiment=gpt_shakespeare_char)"
        )
    return model, tokenizer_from_json(tokenizer_json)


def run(cfg: DictConfig, run_dir: Path) -> list[str]:
    """Sample `num_samples` continuations of `prompt`, print them, and keep them in samples.txt."""
    import torch

    _check(cfg)
    path = checkpoint_file(cfg.ckpt_path)
    checkpoint = read_checkpoint(path)
    if is_causal_lm_checkpoint(checkpoint):
        return _keep(
            _replies(checkpoint, path, cfg, run_dir), run_dir, printed=cfg.num_samples == 1
        )
    if cfg.temperature <= 0:
        raise ConfigError(
            f"temperature={cfg.temperature} is not valid for {path}'s model, which samples; "
            "expected a number > 0 (below 1: surer, above 1: wilder)"
        )
    model, tokenizer = _language_model(checkpoint, path, cfg, run_dir)
    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    ids = tokenizer.encode(cfg.prompt)
    unknown = getattr(tokenizer, "unk_id", None)
    if unknown is not None and unknown in ids:
        log.warning("The prompt has characters the model never saw in training; they read as <unk>")
    torch.manual_seed(cfg.seed)
    prompt = torch.tensor([ids] * cfg.num_samples, dtype=torch.long, device=device)
    out = model.generate(prompt, cfg.max_new_tokens, cfg.temperature, cfg.top_k)
    return _keep([tokenizer.decode(row.tolist()) for row in out], run_dir)


def _replies(checkpoint: dict[str, Any], path: Path, cfg: DictConfig, run_dir: Path) -> list[str]:
    """A fine-tuned causal LM's replies to `prompt` as a user turn (after `system`, if given),
    through the chat template it trained with; one is streamed as it comes."""
    import torch

    chat = chat_model(checkpoint, path, cfg.trust_config, cfg, run_dir)
    conversation = [{"role": "system", "content": cfg.system}] if cfg.system else []
    conversation.append({"role": "user", "content": cfg.prompt})
    sampling = Sampling(cfg.max_new_tokens, cfg.temperature, cfg.top_k, cfg.top_p)
    torch.manual_seed(cfg.seed)
    stream = cfg.num_samples == 1
    return [chat.reply(conversation, sampling, stream) for _ in range(cfg.num_samples)]


def _keep(samples: list[str], run_dir: Path, printed: bool = False) -> list[str]:
    """Print the samples (unless streamed already) and keep them in samples.txt."""
    text = f"\n{SEPARATOR}\n".join(samples) + "\n"
    if not printed:
        print(text, end="", flush=True)
    write_atomic(run_dir / "samples.txt", lambda handle: handle.write(text))
    log.info("%d sample(s) written to %s", len(samples), run_dir / "samples.txt")
    return samples
