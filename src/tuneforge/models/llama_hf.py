"""Our Llama as a Hugging Face `LlamaForCausalLM` and back: sizes from a config.json, and the
config.json and weights of an export.

The weights need no table: our module names are transformers' without its `model.` prefix (which
loading strips), and the rotary embedding follows transformers' convention, so no tensor is
permuted or transposed. An untied output layer is `lm_head.weight` in both; a tied one is left out
of the file, as `save_pretrained` leaves it out.

Configs written by transformers 4 give `rope_theta` and `rope_scaling`; transformers 5 gives both
in `rope_parameters`. Both are read; exports write the first, which both versions read.

No `transformers` import is needed.
"""

import json
from pathlib import Path
from typing import Any

import torch

from tuneforge.models.llama import Llama, normalized_rope_scaling

PREFIX = "model."  # LlamaForCausalLM's name for everything but the output layer
OUTPUT = "lm_head.weight"


def _read_config(hf_config: str | Path) -> dict[str, Any]:
    path = Path(hf_config).expanduser()
    path = path / "config.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as ex:
        raise ValueError(
            f"hf_config={hf_config}: cannot read {path} ({type(ex).__name__}); point it at a "
            "Hugging Face Llama folder with its config.json"
        ) from ex


def _refuse_other_layouts(raw: dict[str, Any], hf_config: str | Path) -> None:
    """A config of a model whose layers differ from ours: another family, biases, another
    activation, or heads narrower or wider than hidden_size / num_attention_heads."""
    head_dim = raw["hidden_size"] // raw["num_attention_heads"]
    problems = {
        "model_type": (raw.get("model_type"), "llama"),
        "hidden_act": (raw.get("hidden_act", "silu"), "silu"),
        "attention_bias": (raw.get("attention_bias", False), False),
        "mlp_bias": (raw.get("mlp_bias", False), False),
        "head_dim": (raw.get("head_dim") or head_dim, head_dim),
    }
    for key, (theirs, ours) in problems.items():
        if theirs != ours:
            raise ValueError(
                f"hf_config={hf_config} has {key}={theirs!r} where model=llama has {ours!r}; "
                "load that model with model=hf_causal_lm model.path=FOLDER"
            )


def llama_sizes(hf_config: str | Path, data_vocab_size: int) -> dict[str, Any]:
    """`Llama`'s size arguments (vocab_size to tie_embeddings) from a Hugging Face Llama
    config.json (or the folder holding it).

    Raises:
        ValueError: for an unreadable config, a layout other than Llama's, or a tokenizer
            (`data_vocab_size`) with more ids than the model's vocabulary.
    """
    raw = _read_config(hf_config)
    try:
        _refuse_other_layouts(raw, hf_config)
        rope = raw.get("rope_parameters")
        if rope is None:  # transformers 4's keys
            rope = {**(raw.get("rope_scaling") or {}), "rope_theta": raw.get("rope_theta", 1e4)}
        sizes = {
            "vocab_size": raw["vocab_size"],
            "n_layer": raw["num_hidden_layers"],
            "n_head": raw["num_attention_heads"],
            "n_kv_head": raw.get("num_key_value_heads") or raw["num_attention_heads"],
            "n_embd": raw["hidden_size"],
            "intermediate_size": raw["intermediate_size"],
            "rope_theta": float(rope.get("rope_theta", 1e4)),
            "rope_scaling": normalized_rope_scaling(
                {k: v for k, v in rope.items() if k != "rope_theta"}
            ),
            "max_position_embeddings": raw["max_position_embeddings"],
            "rms_norm_eps": raw.get("rms_norm_eps", 1e-6),
            "tie_embeddings": raw.get("tie_word_embeddings", False),
        }
    except KeyError as ex:
        raise ValueError(
            f"hf_config={hf_config} lacks {ex.args[0]}; point it at a Llama's config.json"
        ) from ex
    if data_vocab_size > sizes["vocab_size"]:
        raise ValueError(
            f"the data's tokenizer has {data_vocab_size} ids, more than the {sizes['vocab_size']} "
            f"of hf_config={hf_config}; tokenize with that model's own tokenizer "
            "(data.tokenizer_file=FOLDER/tokenizer.json)"
        )
    return sizes


def hf_llama_config(model: Llama) -> dict[str, Any]:
    """config.json for `transformers.LlamaForCausalLM`."""
    config = model.config
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": config.vocab_size,
        "hidden_size": config.n_embd,
        "intermediate_size": config.intermediate_size,
        "num_hidden_layers": config.n_layer,
        "num_attention_heads": config.n_head,
        "num_key_value_heads": config.n_kv_head,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_position_embeddings,
        "rms_norm_eps": config.rms_norm_eps,
        "rope_theta": config.rope_theta,
        "rope_scaling": config.rope_scaling,
        "tie_word_embeddings": config.tie_embeddings,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": config.dropout,
        "bos_token_id": None,
        "eos_token_id": None,
    }


def hf_llama_state_dict(model: Llama) -> dict[str, torch.Tensor]:
    """The weights under LlamaForCausalLM's names; a tied output layer once, as the embedding."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name == OUTPUT:
            if not model.config.tie_embeddings:
                state[name] = tensor.clone()
        else:
            state[PREFIX + name] = tensor.clone()
    return state
