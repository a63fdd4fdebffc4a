"""Show what a fine-tuned chat model answers: after every validation, its greedy replies to the
first validation prompts beside the replies the data holds, in TensorBoard's text tab."""

from typing import Any, Protocol

import lightning as L
import torch

from tuneforge.callbacks._base import Callback


class ChatPrompts(Protocol):
    """A DataModule that renders prompts through its chat template (data.ChatDataModule)."""

    def sample_prompts(self, count: int) -> list[tuple[list[int], str, str]]:
        """Up to `count` validation prompts: token ids, the user's last turn, the reference."""
        ...

    @property
    def stop_ids(self) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


class ChatReplies(Callback):
    """After each validation, generate greedy replies to `prompts` validation conversations and
    log them with their questions and reference replies as `samples/replies`.

    Greedy decoding needs no random numbers, so the training run is the same with or without
    it. It needs a model with Hugging Face's `generate` and a DataModule with `sample_prompts`;
    with neither, it does nothing.

    Args:
        prompts: how many validation conversations to answer.
        max_new_tokens: the longest reply.
    """

    def __init__(self, prompts: int = 3, max_new_tokens: int = 64) -> None:
        self.prompts = prompts
        self.max_new_tokens = max_new_tokens

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from lightning.pytorch.loggers import TensorBoardLogger

        data: Any = trainer.datamodule
        model = getattr(pl_module, "model", pl_module)
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if trainer.sanity_checking or not loggers or not hasattr(data, "sample_prompts"):
            return
        if not hasattr(model, "generate"):
            return
        blocks = []
        for ids, question, reference in data.sample_prompts(self.prompts):
            prompt = torch.tensor([ids], device=pl_module.device)
            with torch.no_grad():
                out = model.generate(
                    input_ids=prompt,
                    attention_mask=torch.ones_like(prompt),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    eos_token_id=data.stop_ids,
                    pad_token_id=data.stop_ids[0],
                )
            reply = data.decode(out[0, len(ids) :].tolist())
            blocks.append(f"**user:** {question}\n\n**reply:** {reply}\n\n**data:** {reference}")
        for logger in loggers:
            logger.experiment.add_text(
                "samples/replies", "\n\n---\n\n".join(blocks), trainer.global_step
            )
