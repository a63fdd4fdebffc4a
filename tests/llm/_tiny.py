"""A tiny random Llama saved as a Hugging Face folder, with a byte-level BPE chat tokenizer
(SmolLM2's template, pad = end-of-turn), and chat files to fine-tune it on: what the real
SmolLM2 folder holds, small enough for a test."""

import json
import tempfile
from functools import cache
from pathlib import Path

from ..data._chat_tokenizer import SMOLLM2, chat_tokenizer

LLAMA_SIZES = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
# Questions and their answers; each answer is the capital in one word, so a few steps teach it.
FACTS = [
    ("France", "Paris"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Germany", "Berlin"),
    ("Austria", "Vienna"),
    ("Portugal", "Lisbon"),
    ("Greece", "Athens"),
    ("Norway", "Oslo"),
]


def save_model_folder(
    folder: Path,
    template: str | None = SMOLLM2,
    tie: bool = True,
    seed: int = 0,
    sizes: dict[str, int] | None = None,
) -> Path:
    """A Llama of about 40k parameters (LLAMA_SIZES, updated by `sizes`) with random weights
    (drawn from `seed`) and the chat tokenizer, saved as transformers saves one (config.json,
    model.safetensors, tokenizer)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = chat_tokenizer(template)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        tie_word_embeddings=tie,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **{**LLAMA_SIZES, **(sizes or {})},
    )
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def conversation(country: str, capital: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": f"What is the capital of {country}?"},
            {"role": "assistant", "content": f"The capital of {country} is {capital}."},
        ]
    }


def write_chats(path: Path, rows: int = 24) -> Path:
    """A JSONL file of `rows` messages records, cycling through FACTS."""
    lines = [json.dumps(conversation(*FACTS[i % len(FACTS)])) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@cache
def shared_model_folder() -> Path:
    """One tiny Llama folder for the whole test session, for tests that name it in a config."""
    return save_model_folder(Path(tempfile.mkdtemp(prefix="tiny_llama_")))


@cache
def shared_instructions() -> Path:
    """Alpaca records of FACTS, for experiments built on data=instruct."""
    path = Path(tempfile.mkdtemp(prefix="instructions_")) / "train.jsonl"
    rows = [
        {"instruction": f"What is the capital of {country}?", "output": capital}
        for country, capital in FACTS * 3
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
