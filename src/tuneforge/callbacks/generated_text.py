"""Show what a language model writes: a sample after every validation, in TensorBoard's text tab."""

from typing import Protocol

import lightning as L
import torch

from tuneforge.callbacks._base import Callback


class Generates(Protocol):
    """A model that samples continuations (our GPT, or any model with the same method)."""

    def generate(
        self, idx: torch.Tensor, max_new_tokens: int, temperature: float, top_k: int | None
    ) -> torch.Tensor: ...


class Tokenizes(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class GeneratedText(Callback):
    """After each validation, sample `max_new_tokens` after `prompt` and log the text as
    `samples/generated` at the current step, so a run shows how its writing improves.

    The sample uses its own seeded generator state and restores the global one, so logging a
    sample never changes the training run. It needs a model with `generate()` and a DataModule
    with a `tokenizer`; with neither, it does nothing.

    Args:
        prompt: text the sample continues.
        max_new_tokens: tokens to sample.
        temperature: below 1 sharpens the distribution.
        top_k: sample among the k likeliest tokens only (None: all).
        seed: seeds every sample alike, so samples differ only by what the model learnt.
    """

    def __init__(
        self,
        prompt: str = "\n",
        max_new_tokens: int = 200,
        temperature: float = 0.8,
        top_k: int | None = 200,
        seed: int = 0,
    ) -> None:
        self.prompt = prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_k = top_k
        self.seed = seed

    def sample(self, model: Generates, tokenizer: Tokenizes, device: torch.device) -> str:
        ids = torch.tensor([tokenizer.encode(self.prompt)], dtype=torch.long, device=device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            out = model.generate(ids, self.max_new_tokens, self.temperature, self.top_k)
        return tokenizer.decode(out[0].tolist())

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from lightning.pytorch.loggers import TensorBoardLogger

        model = getattr(pl_module, "model", pl_module)
        tokenizer = getattr(trainer.datamodule, "tokenizer", None)
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if trainer.sanity_checking or not loggers or tokenizer is None:
            return
        if not hasattr(model, "generate"):
            return
        text = self.sample(model, tokenizer, pl_module.device)
        as_markdown = "    " + text.replace("\n", "\n    ")  # a code block keeps line breaks
        for logger in loggers:
            logger.experiment.add_text("samples/generated", as_markdown, trainer.global_step)
