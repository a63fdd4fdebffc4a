"""Chat and instruction data (JSON or JSONL) as a LightningDataModule for supervised fine-tuning.

Rows are read and checked by `chat_records` (messages, ShareGPT, Alpaca or prompt/completion),
rendered through the model's own chat template and masked to the assistant's replies by
`chat_tokens`, and, with `packing=true`, packed several to a row by `chat_packing`. The
tokenizer is the pretrained model's: `build()` hands it over through `use_tokenizer` before
`setup()`, since a pretrained model's vocabulary is fixed and the data must speak it.

The validation split is a seeded hash of each conversation (`val_fraction`), or a file of its
own (`val_path`); the test split is `test_path`, else the validation split. Validation and test
rows are never packed, so their loss is the same whatever the training rows look like.
"""

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from tuneforge.data._args import (
    POSITIVE_RULE,
    WORKERS_RULE,
    ArgumentRules,
    Workers,
    check_arguments,
)
from tuneforge.data._base import SplitsDataModule
from tuneforge.data.chat_packing import collate, pack, packing_report
from tuneforge.data.chat_records import read_conversations, split_by_hash
from tuneforge.data.chat_tokens import (
    LENGTH_POLICIES,
    TRAIN_ON,
    chat_template,
    encode_conversations,
    render_prompt,
    stop_ids,
)
from tuneforge.errors import DataError

RULES: ArgumentRules = {
    "max_length": POSITIVE_RULE,
    "batch_size": POSITIVE_RULE,
    "pad_to_multiple_of": POSITIVE_RULE,
    "num_workers": WORKERS_RULE,
    "train_on": (lambda value: value in TRAIN_ON, "one of " + ", ".join(TRAIN_ON)),
    "length_policy": (
        lambda value: value in LENGTH_POLICIES,
        "one of " + ", ".join(LENGTH_POLICIES),
    ),
    "val_fraction": (
        lambda value: isinstance(value, float | int) and 0 < value < 1,
        "a number between 0 and 1, both excluded",
    ),
}


class ChatDataModule(SplitsDataModule):
    """Conversations for a causal LM, the loss on the assistant's replies only.

    Args:
        path: the training file (.jsonl, or .json holding an array of records).
        val_path: a validation file; None: `val_fraction` of `path`, chosen by a seeded hash.
        test_path: a test file; None: the validation split.
        format: auto (from the first record), messages, sharegpt, alpaca or prompt_completion.
        columns: record keys for fields named otherwise, e.g. {"output": "response"}.
        strict: stop at the first bad row instead of skipping and counting it.
        val_fraction: the share of `path` held out when there is no `val_path`.
        split_seed: seeds the hash that splits off validation rows.
        chat_template: a Jinja template that replaces the tokenizer's own (None: its own).
        train_on: assistant (every reply), last_assistant, or all (prompts too).
        max_length: the most tokens an example (or a packed row) holds.
        length_policy: for a longer conversation: drop it, truncate it, or stop (error); each
            counted in the data report.
        packing: several training examples per row, each attending only to itself.
        batch_size: rows per batch.
        pad_to_multiple_of: batches are padded to a multiple of this length.
        num_workers: data loader worker processes (0: the main process; auto: one per core).
        train_transforms: must be empty: chat takes no augmentation.
    """

    def __init__(
        self,
        path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        format: str = "auto",
        columns: dict[str, str] | None = None,
        strict: bool = False,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        chat_template: str | None = None,
        train_on: str = "assistant",
        max_length: int = 1024,
        length_policy: str = "drop",
        packing: bool = False,
        batch_size: int = 4,
        pad_to_multiple_of: int = 8,
        num_workers: Workers = 0,
        train_transforms: Sequence[Callable] = (),
    ) -> None:
        super().__init__()
        check_arguments(
            RULES,
            {
                "max_length": max_length,
                "batch_size": batch_size,
                "pad_to_multiple_of": pad_to_multiple_of,
                "num_workers": num_workers,
                "train_on": train_on,
                "length_policy": length_policy,
                "val_fraction": val_fraction,
            },
        )
        if train_transforms:
            raise ValueError(
                "train_transforms is not allowed; chat data takes no augmentation: use "
                "augmentation=none"
            )
        self.path, self.val_path, self.test_path = path, val_path, test_path
        self.format, self.columns, self.strict = format, dict(columns or {}), strict
        self.val_fraction, self.split_seed = val_fraction, split_seed
        self.template_override, self.train_on = chat_template, train_on
        self.max_length, self.length_policy, self.packing = max_length, length_policy, packing
        self.batch_size, self.pad_to_multiple_of = batch_size, pad_to_multiple_of
        self.num_workers = num_workers
        self.tokenizer: Any = None
        self.template: str | None = None  # the one that rendered, kept in checkpoints
        self.report: dict[str, Any] = {}
        self.val_conversations: list[list[dict[str, str]]] = []

    @property
    def needs_tokenizer(self) -> bool:
        """True until the model's tokenizer is handed over (`use_tokenizer`)."""
        return self.tokenizer is None

    def use_tokenizer(self, tokenizer: Any) -> None:
        """The pretrained model's tokenizer, with its chat template; called before `setup()`."""
        self.tokenizer = tokenizer
        if self.template is None:
            self.template = chat_template(tokenizer, self.template_override)

    @property
    def pad_id(self) -> int:
        """The id padding takes as input (its labels are ignored, whatever the id)."""
        for token_id in (self.tokenizer.pad_token_id, self.tokenizer.eos_token_id):
            if token_id is not None:
                return int(token_id)
        return 0

    @property
    def spec(self) -> dict[str, Any]:
        return {"task": "causal_lm", "vocab_size": len(self.tokenizer)}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        if self.tokenizer is None:
            raise DataError(
                "data=chat needs the model's tokenizer: choose model=hf_causal_lm with "
                "model.path=FOLDER"
            )
        train_file = read_conversations(self.path, self.format, self.columns, self.strict)
        records = {"train": train_file}
        if self.val_path is not None:
            records["val"] = read_conversations(
                self.val_path, self.format, self.columns, self.strict
            )
            conversations = {"train": train_file.conversations, "val": records["val"].conversations}
        else:
            train, val = split_by_hash(train_file.conversations, self.val_fraction, self.split_seed)
            conversations = {"train": train, "val": val}
        if self.test_path is not None:
            records["test"] = read_conversations(
                self.test_path, self.format, self.columns, self.strict
            )
            conversations["test"] = records["test"].conversations
        for split in ("train", "val"):
            if not conversations[split]:
                raise DataError(
                    f"data: the {split} split of {self.path} holds no usable conversation "
                    f"({_skipped(train_file)}); check the file, data.format and data.columns"
                )
        encoded = {
            split: encode_conversations(
                self.tokenizer,
                rows,
                self.template,
                self.train_on,
                self.max_length,
                self.length_policy,
            )
            for split, rows in conversations.items()
        }
        if not encoded["train"].examples:
            raise DataError(
                f"data: no training conversation of {self.path} is left after data.max_length="
                f"{self.max_length} and the loss mask ({encoded['train'].report()['dropped']}); "
                "raise data.max_length or set data.length_policy=truncate"
            )
        rows: list[Any] = encoded["train"].examples
        self.report = {
            "files": {split: found.report() for split, found in records.items()},
            **{split: chats.report() for split, chats in encoded.items()},
        }
        if self.packing:
            rows = pack(rows, self.max_length)
            self.report["packing"] = packing_report(rows, self.max_length)
        self.val_conversations = conversations["val"]
        self.splits = {"train": rows, "val": encoded["val"].examples}
        self.splits["test"] = encoded["test"].examples if "test" in encoded else self.splits["val"]

    def sample_prompts(self, count: int) -> list[tuple[list[int], str, str]]:
        """The first `count` validation conversations up to their last reply: the prompt's
        token ids (with the assistant's header after it), the user's last turn, and the reply
        the data holds. For showing what the model answers while it trains."""
        samples = []
        for conversation in self.val_conversations[:count]:
            last = max(i for i, turn in enumerate(conversation) if turn["role"] == "assistant")
            text = render_prompt(self.tokenizer, conversation[:last], self.template)
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
            samples.append((ids, conversation[last - 1]["content"], conversation[last]["content"]))
        return samples

    @property
    def stop_ids(self) -> list[int]:
        """Token ids that end a reply (see `chat_tokens.stop_ids`)."""
        return stop_ids(self.tokenizer)

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def loader(self, dataset: Any, shuffle: bool = False, sampler: Any = None) -> DataLoader:
        loader = super().loader(dataset, shuffle, sampler)
        loader.collate_fn = partial(
            collate, pad_id=self.pad_id, pad_to_multiple_of=self.pad_to_multiple_of
        )
        return loader

    def report_table(self) -> Any:
        """Rows, tokens and what was dropped or cut, per split, for a terminal."""
        from rich.table import Table

        table = Table(title=f"{self.path}: chat data")
        for heading in ("split", "rows", "tokens", "trained", "median length", "cut", "dropped"):
            table.add_column(heading, justify="left" if heading == "split" else "right")
        for split in ("train", "val", "test"):
            part = self.report.get(split)
            if part is None:
                continue
            dropped = sum(part["dropped"].values())
            table.add_row(
                split,
                str(part["rows"]),
                str(part["tokens"]),
                f"{part['trained_share']:.0%}",
                f"{part['tokens_per_example']['median']:.0f}",
                str(part["truncated"]["rows"]),
                str(dropped),
            )
        return table

    def state_dict(self) -> dict[str, Any]:
        """The chat template that rendered the training rows: generation, eval and export
        render with the same one."""
        return {"chat_template": self.template}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        template = state.get("chat_template")
        if template is not None and not isinstance(template, str):
            raise ValueError(f"chat_template is a {type(template).__name__}, not a string")
        self.template = template

    def prompts(self, path: str | Path) -> list[list[dict[str, str]]]:
        """The conversations of `path` to answer: each up to its last user turn, read in this
        data's format and columns; a bad row stops with one line naming it."""
        return read_conversations(
            path, self.format, self.columns, strict=True, prompts=True
        ).conversations


def _skipped(records: Any) -> str:
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(records.skipped.items()))
    return f"{records.rows} rows read" + (f"; skipped: {skipped}" if skipped else "")
