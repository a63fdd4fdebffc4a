"""A fine-tuned causal LM answering conversations through the chat template it trained with.

`generate`, `chat` and `predict` all answer here, so the prompt a reply sees is rendered exactly
as training rendered its examples: the same template, the generation prompt after the last user
turn, no second BOS. Generation is transformers' `generate` (key/value cache, greedy or sampled)
and stops on the end-of-turn token as well as the model's eos, never on the pad token alone.
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tuneforge.data.chat_tokens import render_prompt, stop_ids
from tuneforge.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

Conversation = list[dict[str, str]]
CAUSAL_LM_TARGETS = {"tuneforge.models.HFCausalLM", "tuneforge.models.hf_causal_lm.HFCausalLM"}


@dataclass(frozen=True)
class Sampling:
    """How replies are drawn. temperature 0: greedy (the same reply every time)."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
            kwargs.update(top_k=self.top_k or 0, top_p=1.0 if self.top_p is None else self.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_k=None, top_p=None)
        return kwargs


class ChatModel:
    """A causal LM (`model=hf_causal_lm`) with its tokenizer and the template it trained with.

    Args:
        model: an HFCausalLM (weights loaded, adapters in place or merged).
        template: the chat template; None: the tokenizer's own.

    Raises:
        ConfigError: when neither exists.
    """

    def __init__(self, model: Any, template: str | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = model.tokenizer
        self.template = template or getattr(self.tokenizer, "chat_template", None)
        if not isinstance(self.template, str):
            raise ConfigError(
                "the model's tokenizer has no chat template, and the run kept none; train with "
                "data.chat_template=TEMPLATE"
            )

    @property
    def stops(self) -> list[int]:
        """Token ids that end a reply: the tokenizer's eos and the model's (`stop_ids`)."""
        return stop_ids(self.tokenizer, self.model.config.eos_token_id)

    @property
    def context(self) -> int | None:
        return getattr(self.model.config, "max_position_embeddings", None)

    def render(self, conversation: Conversation) -> str:
        """The prompt text: the conversation and the assistant's header after it."""
        return render_prompt(self.tokenizer, conversation, self.template)

    def fit(self, conversation: Conversation, max_new_tokens: int) -> Conversation:
        """The conversation with its oldest turns (after a system turn) dropped until the prompt
        and the reply fit the model's context."""
        if self.context is None:
            return conversation
        system = conversation[:1] if conversation and conversation[0]["role"] == "system" else []
        turns = conversation[len(system) :]
        while len(turns) > 1 and self._length(system + turns) + max_new_tokens > self.context:
            turns = turns[2:] if len(turns) > 2 else turns[1:]
        return system + turns

    def _length(self, conversation: Conversation) -> int:
        return len(self.tokenizer(self.render(conversation), add_special_tokens=False).input_ids)

    def replies(
        self, conversations: list[Conversation], sampling: Sampling, streamer: Any = None
    ) -> list[tuple[str, bool]]:
        """One reply to each conversation, generated as one left-padded batch, and whether it
        ended by itself (with a stop token) rather than at max_new_tokens."""
        texts = [self.render(self.fit(c, sampling.max_new_tokens)) for c in conversations]
        padding_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"  # every prompt ends where generation starts
        try:
            batch = self.tokenizer(
                texts, padding=True, add_special_tokens=False, return_tensors="pt"
            )
        finally:
            self.tokenizer.padding_side = padding_side
        pad = self.tokenizer.pad_token_id
        with torch.no_grad():
            out = self.model.generate(
                **batch,
                eos_token_id=self.stops,
                pad_token_id=self.stops[0] if pad is None else pad,
                streamer=streamer,
                **sampling.generate_kwargs(),
            )
        new = out[:, batch["input_ids"].shape[1] :]
        stops = torch.tensor(self.stops)
        return [
            (
                self.tokenizer.decode(row, skip_special_tokens=True).strip(),
                bool(torch.isin(row, stops).any()),
            )
            for row in new
        ]

    def batched_replies(
        self, conversations: list[Conversation], sampling: Sampling, batch_size: int
    ) -> list[tuple[str, bool]]:
        """`replies` to many conversations, `batch_size` at a time, progress logged."""
        replies: list[tuple[str, bool]] = []
        for start in range(0, len(conversations), batch_size):
            replies += self.replies(conversations[start : start + batch_size], sampling)
            log.info("Answered %d of %d conversations", len(replies), len(conversations))
        return replies

    def reply(self, conversation: Conversation, sampling: Sampling, stream: bool = False) -> str:
        """The reply to one conversation; `stream`: printed token by token as it comes."""
        streamer = None
        if stream:
            from transformers import TextStreamer

            streamer = TextStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        return self.replies([conversation], sampling, streamer)[0][0]


def normalized(text: str) -> str:
    """A reply as exact match compares it: lower case, punctuation and spaces folded."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def answer_file(
    chat: ChatModel, path: str, data: Any, sampling: Sampling, batch_size: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Each conversation of the file at `path` (read as the training data was: `data.format`,
    `data.columns`) with the model's reply appended, in the `messages` format, and the scores
    against the replies the file holds, where it holds some: `exact_match` (after
    `normalized`), and the share of replies that ended by themselves (`stopped`).

    Raises:
        DataError: for a missing file or a row that is no conversation to answer.
    """
    from tuneforge.data.chat_records import read_conversations

    records = read_conversations(
        path, data.get("format") or "auto", data.get("columns") or None, strict=True, prompts=True
    )
    prompts = records.conversations
    replies = chat.batched_replies(prompts, sampling, batch_size)
    answered = [
        {"messages": [*conversation, {"role": "assistant", "content": reply}]}
        for conversation, (reply, _) in zip(prompts, replies, strict=True)
    ]
    stopped = sum(ended for _, ended in replies)
    scores: dict[str, Any] = {"rows": len(answered), "stopped": stopped / max(len(answered), 1)}
    pairs = [
        (row["messages"][-1]["content"], reference)
        for row, reference in zip(answered, records.references, strict=True)
        if reference is not None
    ]
    if pairs:
        matches = sum(normalized(reply) == normalized(ref) for reply, ref in pairs)
        scores.update(exact_match=matches / len(pairs), scored=len(pairs))
    return answered, scores


def chat_model(checkpoint: dict[str, Any], path: Path, trust: bool, verb: Any, run_dir: Path):
    """The fine-tuned LM of a checkpoint, ready to answer.

    Raises:
        CheckpointError: when the checkpoint holds another kind of model.
    """
    from tuneforge.run.from_checkpoint import stored_chat_template, trained_model

    model = trained_model(checkpoint, path, trust, verb, run_dir)
    if not hasattr(model, "hf_model"):
        raise CheckpointError(
            f"ckpt_path '{path}' holds a {type(model).__name__}, not a causal LM fine-tuned "
            "with model=hf_causal_lm; point it at such a run"
        )
    return ChatModel(model, stored_chat_template(checkpoint))


def is_causal_lm_checkpoint(checkpoint: dict[str, Any]) -> bool:
    """Whether the checkpoint's model is a pretrained causal LM (model=hf_causal_lm), read from
    its stored config before anything is built."""
    from tuneforge.checkpoint_format import CHECKPOINT_KEY

    model = checkpoint[CHECKPOINT_KEY]["config"].get("model") or {}
    return model.get("_target_") in CAUSAL_LM_TARGETS
