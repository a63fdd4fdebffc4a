"""Conversations as token ids and labels, through the tokenizer's own chat template.

The template that trains is the one generation uses, so nothing here knows a model family's
prompt format. The loss mask comes from the template itself, by incremental rendering: the
conversation up to an assistant turn is rendered with the generation prompt, then with the
reply, and the difference is the reply as the model must produce it. The assistant header
belongs to the prompt; the reply and its end-of-turn token are trained; what follows that token
(the newline before the next turn) is template glue and is not.

Two shortcuts are avoided on purpose. `{% generation %}` markers are missing from most templates
(SmolLM2's among them, so `return_assistant_tokens_mask` marks nothing). And labels are never
derived from the pad id: SmolLM2 pads with its end-of-turn token, so that would drop every
end-of-turn label and the model would never learn to stop. Labels are -100 where not trained.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jinja2
import numpy as np

from tuneforge.data.chat_records import Conversation
from tuneforge.errors import DataError

IGNORE = -100  # the label PyTorch's cross-entropy skips
TRAIN_ON = ("assistant", "last_assistant", "all")
LENGTH_POLICIES = ("drop", "truncate", "error")


class TemplateRefused(DataError):
    """The chat template raised on one conversation (e.g. roles out of the order it wants)."""


@dataclass(frozen=True)
class ChatExample:
    """One rendered conversation: `labels` equals `input_ids` where trained, IGNORE elsewhere."""

    input_ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def position_ids(self) -> np.ndarray:
        """Positions 0..len-1, as for a packed row of one document."""
        return np.arange(len(self.input_ids), dtype=np.int64)


def chat_template(tokenizer: Any, template: str | None = None) -> str:
    """The template to render with: `template` when given, else the tokenizer's own.

    Raises:
        DataError: neither exists.
    """
    template = template if template is not None else getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):  # tokenizers that ship several name their main one "default"
        template = template.get("default")
    if not isinstance(template, str) or not template.strip():
        raise DataError(
            "the tokenizer has no chat template; set data.chat_template to a Jinja chat template "
            "(the model's, if its card gives one)"
        )
    return template


def encode_conversation(
    tokenizer: Any, conversation: Conversation, template: str, train_on: str = "assistant"
) -> ChatExample:
    """Render and tokenize one conversation, with labels on the trained spans only.

    Args:
        tokenizer: a Hugging Face fast tokenizer (its offsets map trained text to tokens).
        conversation: checked turns (see chat_records).
        template: the Jinja chat template (see `chat_template`).
        train_on: "assistant" (every reply), "last_assistant" (the final reply: earlier ones are
            context) or "all" (every token, prompts too).

    Raises:
        TemplateRefused: the template raised on this conversation.
        DataError: the template is broken, or its earlier turns render differently depending on
            what follows (then no prefix diff can find the replies).
    """
    full = _render(tokenizer, conversation, template, generation_prompt=False)
    spans = [(0, len(full))] if train_on == "all" else []
    if train_on != "all":
        replies = [i for i, turn in enumerate(conversation) if turn["role"] == "assistant"]
        for index in replies[-1:] if train_on == "last_assistant" else replies:
            spans.append(_reply_span(tokenizer, conversation, index, template, full))
    encoding = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = np.asarray(encoding["input_ids"], dtype=np.int64)
    trained = np.zeros(len(ids), dtype=bool)
    for token, (start, end) in enumerate(encoding["offset_mapping"]):
        end = max(end, start + 1)  # a token with an empty span still sits at its start
        trained[token] = any(start < right and left < end for left, right in spans)
    trained[:1] = False  # the first token is never a target: nothing comes before it
    return ChatExample(ids, np.where(trained, ids, IGNORE))


def _reply_span(
    tokenizer: Any, conversation: Conversation, index: int, template: str, full: str
) -> tuple[int, int]:
    """The characters of `full` that assistant turn `index` trains: its reply and end-of-turn."""
    prompt = _render(tokenizer, conversation[:index], template, generation_prompt=True)
    reply = _render(tokenizer, conversation[: index + 1], template, generation_prompt=False)
    for shorter, longer, what in (
        (prompt, reply, "the same turns followed by the reply"),
        (reply, full, "the whole conversation"),
    ):
        if not longer.startswith(shorter):
            at = next(i for i, (a, b) in enumerate(zip(shorter, longer, strict=False)) if a != b)
            raise DataError(
                f"data.chat_template: rendered up to assistant turn {index + 1}, the template "
                f"does not begin like {what} (at character {at}: {shorter[at : at + 24]!r} vs "
                f"{longer[at : at + 24]!r}), so the reply cannot be found by a prefix diff; use "
                "a template whose earlier turns render the same whatever follows them"
            )
    added = reply[len(prompt) :]
    return len(prompt), len(prompt) + _trained_length(
        added, conversation[index]["content"], tokenizer
    )


def _trained_length(added: str, content: str, tokenizer: Any) -> int:
    """How much of a reply's rendered text trains: up to and including the first special token
    after the content (its end-of-turn), or all of it when the template writes none."""
    text = content.strip()
    at = added.find(text) if text else -1
    after = at + len(text) if at >= 0 else 0
    ends = [
        (found, -len(token))
        for token in _special_tokens(tokenizer)
        if (found := added.find(token, after)) >= 0
    ]
    if not ends:
        return len(added)
    found, minus_length = min(ends)  # the earliest, and the longest of those that start there
    return found - minus_length


def _special_tokens(tokenizer: Any) -> set[str]:
    tokens = set(getattr(tokenizer, "all_special_tokens", ()))
    added = getattr(tokenizer, "added_tokens_decoder", {}).values()
    return {t for t in tokens | {a.content for a in added if a.special} if t}


def stop_ids(tokenizer: Any, *configured: int | list[int] | None) -> list[int]:
    """Token ids that end a reply: the tokenizer's eos (a chat model's end-of-turn token) and
    the ids a model's or generation config names (`configured`), each once, the tokenizer's
    first. The pad id is not among them unless it is one of those."""
    ids = [tokenizer.eos_token_id]
    for given in configured:
        ids += given if isinstance(given, list) else [given]
    return list(dict.fromkeys(i for i in ids if isinstance(i, int)))


def render_prompt(tokenizer: Any, conversation: Conversation, template: str) -> str:
    """The text a reply to `conversation` continues: its turns and the assistant's header, as
    training rendered them.

    Raises:
        DataError: the template is broken or refuses the conversation.
    """
    return _render(tokenizer, conversation, template, generation_prompt=True)


def _render(tokenizer: Any, turns: Conversation, template: str, generation_prompt: bool) -> str:
    try:
        return tokenizer.apply_chat_template(
            turns, chat_template=template, tokenize=False, add_generation_prompt=generation_prompt
        )
    except jinja2.TemplateSyntaxError as ex:
        raise DataError(f"data.chat_template is not a valid Jinja template: {ex}") from None
    except jinja2.TemplateError as ex:
        raise TemplateRefused(f"the chat template refused the conversation: {ex}") from None


@dataclass
class EncodedChats:
    """Examples ready to batch or pack, and what encoding them dropped or cut, and why.

    Attributes:
        examples: in the order of the conversations kept.
        max_length: the longest example allowed (None: no limit).
        truncated_rows: examples cut to max_length (policy "truncate").
        truncated_tokens: tokens those cuts removed.
        dropped: conversations dropped, by reason: too_long, no_trained_token,
            template_refused.
        examples_dropped: the first dropped conversation of each reason, by index and why.
    """

    examples: list[ChatExample] = field(default_factory=list)
    max_length: int | None = None
    truncated_rows: int = 0
    truncated_tokens: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples_dropped: dict[str, str] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """Rows, tokens per example, truncated, dropped and the share of tokens trained: plain
        data for a data report ({"rows": 0, ...} when nothing was kept)."""
        lengths = np.array([len(example) for example in self.examples], dtype=np.int64)
        trained = sum(int((example.labels != IGNORE).sum()) for example in self.examples)
        tokens = int(lengths.sum())
        return {
            "rows": len(self.examples),
            "tokens": tokens,
            "trained_tokens": trained,
            "trained_share": trained / tokens if tokens else 0.0,
            "tokens_per_example": {
                "min": int(lengths.min()) if len(lengths) else 0,
                "median": float(np.median(lengths)) if len(lengths) else 0.0,
                "max": int(lengths.max()) if len(lengths) else 0,
            },
            "max_length": self.max_length,
            "truncated": {"rows": self.truncated_rows, "tokens": self.truncated_tokens},
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_examples": dict(sorted(self.examples_dropped.items())),
        }


def encode_conversations(
    tokenizer: Any,
    conversations: list[Conversation],
    template: str | None = None,
    train_on: str = "assistant",
    max_length: int | None = None,
    length_policy: str = "drop",
) -> EncodedChats:
    """Encode every conversation, applying the length policy and counting what it does.

    Args:
        tokenizer: a Hugging Face fast tokenizer.
        conversations: checked conversations (see chat_records).
        template: a Jinja chat template that overrides the tokenizer's own.
        train_on: one of TRAIN_ON (see `encode_conversation`).
        max_length: the most tokens an example may have (None: no limit).
        length_policy: for a longer one: "drop" it, "truncate" it to its first max_length
            tokens (dropped if no trained token is left), or stop with an "error".

    Raises:
        DataError: an option is wrong, the template is missing or broken, or (policy "error")
            a conversation is too long.
    """
    if train_on not in TRAIN_ON:
        raise DataError(f"data.train_on='{train_on}' is not one of {', '.join(TRAIN_ON)}")
    if length_policy not in LENGTH_POLICIES:
        raise DataError(
            f"data.length_policy='{length_policy}' is not one of {', '.join(LENGTH_POLICIES)}"
        )
    if not getattr(tokenizer, "is_fast", False):
        raise DataError("chat data needs a fast tokenizer (a tokenizer.json) for its loss mask")
    template = chat_template(tokenizer, template)
    encoded = EncodedChats(max_length=max_length)
    for number, conversation in enumerate(conversations, start=1):
        try:
            example = encode_conversation(tokenizer, conversation, template, train_on)
        except TemplateRefused as ex:
            _drop(encoded, "template_refused", number, str(ex))
            continue
        if max_length is not None and len(example) > max_length:
            if length_policy == "error":
                raise DataError(
                    f"conversation {number} has {len(example)} tokens, over data.max_length="
                    f"{max_length}; raise data.max_length, or set data.length_policy=drop or "
                    "truncate"
                )
            if length_policy == "drop":
                _drop(encoded, "too_long", number, f"{len(example)} tokens")
                continue
            encoded.truncated_rows += 1
            encoded.truncated_tokens += len(example) - max_length
            example = ChatExample(example.input_ids[:max_length], example.labels[:max_length])
        if not (example.labels != IGNORE).any():
            _drop(encoded, "no_trained_token", number, f"{len(example)} tokens, none trained")
            continue
        encoded.examples.append(example)
    return encoded


def _drop(encoded: EncodedChats, reason: str, number: int, why: str) -> None:
    encoded.dropped[reason] += 1
    encoded.examples_dropped.setdefault(reason, f"conversation {number}: {why}")
