"""Packing: best-fit-decreasing rows, positions that restart per document, and a packed batch
that scores the same loss as the unpacked one through a real (tiny, random) Llama."""

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tests.data._chat_tokenizer import chat_tokenizer
from tuneforge.data.chat_packing import collate, pack, packing_report
from tuneforge.data.chat_tokens import IGNORE, ChatExample, encode_conversations

QUESTIONS = ["What is the capital of France?", "Define cat.", "Translate hello into French."]
ANSWERS = ["The capital of France is Paris.", "A small domesticated feline.", "bonjour"]


def example(length: int, start: int = 0) -> ChatExample:
    ids = np.arange(start, start + length, dtype=np.int64)
    return ChatExample(ids, ids.copy())


def test_best_fit_decreasing_fills_rows_and_restarts_positions():
    examples = [example(n, 10 * i) for i, n in enumerate([3, 7, 5, 2, 4, 1])]
    rows = pack(examples, max_length=8)
    # 7+1, 5+3, 4+2: each goes into the fullest row it fits
    assert [row.input_ids.tolist() for row in rows] == [
        [*range(10, 17), 50],
        [*range(20, 25), 0, 1, 2],
        [*range(40, 44), 30, 31],
    ]
    assert rows[1].position_ids.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    # a document's first token is never a target
    assert rows[1].labels.tolist() == [IGNORE, 21, 22, 23, 24, IGNORE, 1, 2]
    assert packing_report(rows, 8) == {"rows": 3, "documents": 6, "fill": 22 / 24}
    with pytest.raises(ValueError, match="over max_length=6"):
        pack(examples, max_length=6)


def test_collate_pads_ids_with_the_pad_id_and_labels_with_ignore():
    rows = pack([example(3), example(2, 5)], max_length=3)
    batch = collate(rows, pad_id=99, pad_to_multiple_of=4)
    assert batch["input_ids"].tolist() == [[0, 1, 2, 99], [5, 6, 99, 99]]
    assert batch["labels"].tolist() == [[IGNORE, 1, 2, IGNORE], [IGNORE, 6, IGNORE, IGNORE]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]


@pytest.fixture(scope="module")
def chats():
    tokenizer = chat_tokenizer()
    conversations = [
        [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        for q in QUESTIONS
        for a in ANSWERS
    ]
    conversations.append([turn for pair in conversations[:3] for turn in pair])
    return tokenizer, encode_conversations(tokenizer, conversations).examples


def llama(vocab_size: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=vocab_size,
        max_position_embeddings=512,
        initializer_range=0.3,  # large enough that attending to another document shows
        attn_implementation="sdpa",
    )
    return LlamaForCausalLM(config).eval()


def loss(model, batch, **overrides) -> torch.Tensor:
    options = {"attention_mask": None, "use_cache": False} | overrides
    with torch.no_grad():
        return model(**batch, **options).loss


def test_packed_batch_scores_the_same_loss_as_the_unpacked_one(chats):
    tokenizer, examples = chats
    model = llama(len(tokenizer))
    total, count = 0.0, 0
    for one in examples:  # each alone: the token-weighted mean over every trained token
        targets = int((one.labels[1:] != IGNORE).sum())
        total += loss(model, collate([one], tokenizer.pad_token_id)).item() * targets
        count += targets
    rows = pack(examples, max_length=256)
    assert len(rows) < len(examples) and max(row.documents for row in rows) > 2
    batch = collate(rows, tokenizer.pad_token_id)
    assert loss(model, batch).item() == pytest.approx(total / count, abs=1e-4)
    # without the restart the documents see each other, and the loss shows it
    flat = batch | {
        "position_ids": torch.arange(batch["input_ids"].shape[1]).expand_as(batch["input_ids"])
    }
    assert abs(loss(model, flat).item() - total / count) > 1e-2
    # and so does an all-ones attention mask, whatever the positions
    ones = torch.ones_like(batch["input_ids"])
    assert abs(loss(model, batch, attention_mask=ones).item() - total / count) > 1e-2


def test_unpacked_batch_needs_no_attention_mask(chats):
    tokenizer, examples = chats
    model = llama(len(tokenizer))
    padded = loss(model, collate(examples[:4], tokenizer.pad_token_id))
    weights = [int((e.labels[1:] != IGNORE).sum()) for e in examples[:4]]
    alone = [loss(model, collate([e], tokenizer.pad_token_id)).item() for e in examples[:4]]
    assert padded.item() == pytest.approx(np.average(alone, weights=weights), abs=1e-4)
