"""`tuneforge chat ckpt_path=RUN`: a conversation with a fine-tuned causal LM, in the terminal.

Each line typed is a user turn; the reply streams as it is generated, and the whole history goes
into the next prompt (its oldest turns dropped when it would outgrow the model's context).
`/reset` starts over, `/system TEXT` sets the system turn, `/exit` or end of input ends. The
conversation is kept as conversation.json in the run folder, in the messages format that
`data=chat` trains on.
"""

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint
from tuneforge.run.files import write_json
from tuneforge.run.llm_chat import Sampling, chat_model
from tuneforge.run.validate import validate

log = logging.getLogger(__name__)

SCHEMA: dict[str, Any] = {
    "system": str | None,
    "max_new_tokens": int,
    "temperature": float,
    "top_k": int | None,
    "top_p": float | None,
    "seed": int,
    "trust_config": bool,
}
HELP = "Type a message; /reset starts over, /system TEXT sets the system turn, /exit ends."


def _opening(system: str | None) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}] if system else []


def _read_line() -> str | None:
    """The next line typed (a prompt shown on a terminal), stripped; None at the end of input."""
    if sys.stdin.isatty():
        print("> ", end="", flush=True)
    line = sys.stdin.readline()
    return line.strip() if line else None


def run(cfg: DictConfig, run_dir: Path) -> list[dict[str, str]]:
    """Talk until /exit or the end of input; return the conversation."""
    import torch

    validate(cfg, SCHEMA)
    path = checkpoint_file(cfg.ckpt_path)
    chat = chat_model(read_checkpoint(path), path, cfg.trust_config, cfg, run_dir)
    sampling = Sampling(cfg.max_new_tokens, cfg.temperature, cfg.top_k, cfg.top_p)
    torch.manual_seed(cfg.seed)
    system = cfg.system
    conversation = _opening(system)
    print(HELP, flush=True)
    while (text := _read_line()) is not None:
        if not text:
            continue
        if text == "/exit":
            break
        if text.startswith("/system"):
            system = text.removeprefix("/system").strip() or None
        if text == "/reset" or text.startswith("/system"):
            conversation = _opening(system)
            print("(new conversation)", flush=True)
            continue
        conversation.append({"role": "user", "content": text})
        conversation = chat.fit(conversation, sampling.max_new_tokens)
        reply = chat.reply(conversation, sampling, stream=True)
        conversation.append({"role": "assistant", "content": reply})
        write_json(run_dir / "conversation.json", {"messages": conversation})
    return conversation
