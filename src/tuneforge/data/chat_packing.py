"""Several examples per row (packing), and rows as padded batches.

Packing fills rows best-fit-decreasing, which wastes little of each row without reordering
within a document. Attention stays inside each document by position ids alone: every document's
`position_ids` restart at 0, and a model called with `attention_mask=None`, `use_cache=False`
and those ids (transformers' SDPA and flash-attention paths) builds a block-diagonal causal mask
from the restarts. Both conditions matter: an all-ones mask, or a cache left on, silently lets a
document attend to the one before it. A document's first token is never a target, so no
document learns to predict the next one's start.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from tuneforge.data.chat_tokens import IGNORE


class Row(Protocol):
    """What a batch is made of: an encoded example, or a packed row of several."""

    input_ids: np.ndarray
    labels: np.ndarray

    @property
    def position_ids(self) -> np.ndarray: ...


@dataclass(frozen=True)
class PackedRow:
    """Documents back to back: `position_ids` restart at 0 where each document starts.

    Attributes:
        input_ids: the documents' ids, concatenated.
        labels: their labels, with each document's first position IGNORE.
        position_ids: each document's own positions.
        documents: how many documents the row holds.
    """

    input_ids: np.ndarray
    labels: np.ndarray
    position_ids: np.ndarray
    documents: int

    def __len__(self) -> int:
        return len(self.input_ids)


def pack(examples: Sequence[Row], max_length: int) -> list[PackedRow]:
    """Pack examples into rows of at most max_length tokens, best-fit-decreasing.

    Longest first, each example goes into the fullest row it still fits in, or a new row. Ties
    go by the examples' order, so the same examples always give the same rows.

    Raises:
        ValueError: an example is longer than max_length (apply the length policy first).
    """
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i].input_ids), i))
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, row), sorted: the best fit is the first fit
    for index in order:
        length = len(examples[index].input_ids)
        if length > max_length:
            raise ValueError(f"example {index} has {length} tokens, over max_length={max_length}")
        at = bisect.bisect_left(free, (length, -1))
        if at < len(free):
            room, row = free.pop(at)
        else:
            room, row = max_length, len(rows)
            rows.append([])
        rows[row].append(index)
        if room > length:
            bisect.insort(free, (room - length, row))
    return [_concatenate([examples[i] for i in row]) for row in rows]


def _concatenate(documents: list[Row]) -> PackedRow:
    labels = [document.labels.copy() for document in documents]
    for document_labels in labels:
        document_labels[:1] = IGNORE
    return PackedRow(
        input_ids=np.concatenate([document.input_ids for document in documents]),
        labels=np.concatenate(labels),
        position_ids=np.concatenate([np.arange(len(d.input_ids)) for d in documents]),
        documents=len(documents),
    )


def packing_report(rows: Sequence[PackedRow], max_length: int) -> dict[str, Any]:
    """Rows, documents and how full the rows are (tokens over rows times max_length)."""
    tokens = sum(len(row) for row in rows)
    return {
        "rows": len(rows),
        "documents": sum(row.documents for row in rows),
        "fill": tokens / (len(rows) * max_length) if rows else 0.0,
    }


def collate(rows: Sequence[Row], pad_id: int, pad_to_multiple_of: int = 1) -> dict[str, Any]:
    """Rows as a batch of int64 tensors `input_ids`, `labels` and `position_ids`, right-padded,
    and `lengths`, each row's tokens before its padding (for throughput).

    Padding takes `pad_id` as input and IGNORE as label (never the other way round: the pad id
    may be the end-of-turn token, which trains). Its positions continue the row's last
    document, so a row of one example stays one plain causal sequence. With causal attention a
    real token never sees the padding after it, so the batch needs no attention mask: call the
    model with `attention_mask=None`, these `position_ids` and `use_cache=False`.
    """
    longest = max(len(row.input_ids) for row in rows)
    width = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    batch = {
        "input_ids": torch.full((len(rows), width), pad_id, dtype=torch.int64),
        "labels": torch.full((len(rows), width), IGNORE, dtype=torch.int64),
        "position_ids": torch.zeros((len(rows), width), dtype=torch.int64),
        "lengths": torch.tensor([len(row.input_ids) for row in rows], dtype=torch.int64),
    }
    for index, row in enumerate(rows):
        length, positions = len(row.input_ids), torch.as_tensor(row.position_ids)
        batch["input_ids"][index, :length] = torch.as_tensor(row.input_ids)
        batch["labels"][index, :length] = torch.as_tensor(row.labels)
        start = int(positions[-1]) + 1
        batch["position_ids"][index, :length] = positions
        batch["position_ids"][index, length:] = torch.arange(start, start + width - length)
    return batch
