"""A decoder-only transformer in Llama's layout, read top-down: norm, rotary positions, attention,
MLP, block, model.

The layout and the names are those of Hugging Face's `LlamaForCausalLM` (without its `model.`
prefix), so its weights load with no conversion and ours export the same way
(`tuneforge.models.llama_hf`): RMSNorm before each sublayer, rotary position embeddings instead of a
position table, grouped-query attention (`n_kv_head` key/value heads shared by `n_head` query
heads) through `scaled_dot_product_attention`, a SwiGLU MLP, and an output layer that may share its
weight with the token embedding. The rotary embedding rotates the two halves of each head against
each other (transformers' `rotate_half`), not interleaved pairs (Meta's original code): that is
the convention of transformers' own weights, which need no permutation then.

Generation keeps each block's keys and values (`KVCache`), so each new token costs one position's
compute instead of the whole context's.
"""

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from tuneforge.models.gpt import sample_next, training_flops_per_token

ROPE_TYPES = ("linear", "llama3")  # transformers' rope types computed here exactly
LLAMA3_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


@dataclass
class LlamaConfig:
    """The sizes of a Llama. `vocab_size` and `block_size` come from the data."""

    vocab_size: int
    block_size: int = 256  # context the model trains on
    n_layer: int = 6
    n_head: int = 6
    n_kv_head: int = 2  # key/value heads, each shared by n_head / n_kv_head query heads
    n_embd: int = 384
    intermediate_size: int = 1024  # width of the SwiGLU MLP
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # transformers' rope_scaling: linear or llama3
    max_position_embeddings: int = 256  # context the rotary frequencies were trained for
    rms_norm_eps: float = 1e-5
    tie_embeddings: bool = True
    dropout: float = 0.0

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def context_limit(self) -> int:
        """Longest context the positions allow: `max_position_embeddings`, stretched by a linear
        scaling's factor. A llama3 scaling stretches `original_max_position_embeddings` (its
        configs' max_position_embeddings is the stretched length already)."""
        scaling = self.rope_scaling or {}
        factor = scaling.get("factor", 1.0)
        if scaling.get("rope_type") == "llama3":
            stretched = scaling["original_max_position_embeddings"] * factor
            return max(self.max_position_embeddings, int(stretched))
        return int(self.max_position_embeddings * factor)


def check_config(config: LlamaConfig) -> None:
    """Refuse sizes the layers cannot take, each in one line naming the keys.

    Raises:
        ValueError: head counts that do not divide, an unknown rope scaling, or a data context
            longer than the positions allow.
    """
    if config.n_embd % config.n_head:
        raise ValueError(
            f"n_embd={config.n_embd} is not a multiple of n_head={config.n_head}; choose sizes "
            "where n_head divides n_embd"
        )
    if config.n_head % config.n_kv_head:
        raise ValueError(
            f"n_head={config.n_head} is not a multiple of n_kv_head={config.n_kv_head}; each "
            "key/value head serves a whole group of query heads: choose n_kv_head dividing n_head"
        )
    scaling = config.rope_scaling
    if scaling is not None:
        if scaling.get("rope_type") not in ROPE_TYPES:
            raise ValueError(
                f"rope_scaling rope_type={scaling.get('rope_type')!r} is not supported; choose "
                f"one of: {', '.join(ROPE_TYPES)}, or rope_scaling=null"
            )
        needs = LLAMA3_KEYS if scaling["rope_type"] == "llama3" else ("factor",)
        missing = [key for key in needs if key not in scaling]
        if missing:
            raise ValueError(
                f"rope_scaling of rope_type={scaling['rope_type']} needs {', '.join(missing)}"
            )
    if config.block_size > config.context_limit:
        factor = (scaling or {}).get("factor", 1.0)
        raise ValueError(
            f"data.block_size={config.block_size} is longer than the {config.context_limit} "
            f"tokens that max_position_embeddings={config.max_position_embeddings} and "
            f"rope_scaling factor {factor:g} allow; shorten data.block_size or set "
            "model.rope_scaling={rope_type: linear, factor: F} to stretch the positions"
        )


def normalized_rope_scaling(scaling: dict | None) -> dict | None:
    """`rope_scaling` with its type under `rope_type` (older configs say `type`); None for none."""
    if not scaling:
        return None
    scaling = dict(scaling)
    kind = scaling.pop("type", None)
    scaling.setdefault("rope_type", kind)
    return None if scaling["rope_type"] == "default" else scaling


class RMSNorm(nn.Module):
    """Scales each vector to unit root-mean-square, then by a learned gain; no mean, no bias.
    Computed in float32 whatever the input's dtype, as transformers does."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * y.to(x.dtype)


def rope_frequencies(config: LlamaConfig) -> torch.Tensor:
    """The rotary angle per position of each pair of channels, (head_dim / 2,), in float32, as
    transformers computes it: theta^(-2i/d), divided by a linear scaling's factor, or, for
    llama3's, divided only for wavelengths longer than the original context, with a smooth
    interpolation between the two regimes."""
    dim = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
    scaling = config.rope_scaling
    if scaling is None:
        return inv_freq
    factor = scaling["factor"]
    if scaling["rope_type"] == "linear":
        return inv_freq / factor
    low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
    original = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > original / low, inv_freq / factor, inv_freq)
    smooth = (original / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= original / high) & (wavelen <= original / low)
    return torch.where(medium, smoothed, scaled)


class RotaryEmbedding(nn.Module):
    """Cosines and sines of each position's angles, (T, head_dim), for `apply_rotary`."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        # not in the state dict: computed from the config, as transformers does
        self.register_buffer("inv_freq", rope_frequencies(config), persistent=False)

    def forward(self, start: int, length: int, like: torch.Tensor) -> tuple[torch.Tensor, ...]:
        positions = torch.arange(start, start + length, device=like.device, dtype=torch.float)
        angles = positions[:, None] * self.inv_freq.float()  # (T, head_dim / 2)
        angles = torch.cat((angles, angles), dim=-1)  # both halves of a head share the angles
        return angles.cos().to(like.dtype), angles.sin().to(like.dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel i of each head with channel i + head_dim / 2 by the position's angle."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class KVCache:
    """One block's keys and values of the positions seen so far, in room for `capacity`.

    A cache is filled once with a prompt, then one token at a time (`Llama.generate`).
    """

    def __init__(self, like: torch.Tensor, batch: int, config: LlamaConfig, capacity: int) -> None:
        shape = (batch, config.n_kv_head, capacity, config.head_dim)
        self.keys, self.values = like.new_zeros(shape), like.new_zeros(shape)
        self.length = 0

    def add(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' keys and values; return all of them so far."""
        end = self.length + k.shape[2]
        self.keys[:, :, self.length : end] = k
        self.values[:, :, self.length : end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]


class Attention(nn.Module):
    """Causal self-attention whose `n_head` query heads share `n_kv_head` key/value heads."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.n_head, self.n_kv_head = config.n_head, config.n_kv_head
        self.head_dim = config.head_dim
        self.dropout = config.dropout
        kv_width = config.n_kv_head * config.head_dim
        self.q_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.k_proj = nn.Linear(config.n_embd, kv_width, bias=False)
        self.v_proj = nn.Linear(config.n_embd, kv_width, bias=False)
        self.o_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None = None
    ) -> torch.Tensor:
        B, T, C = x.shape
        # (B, T, heads * head_dim) -> (B, heads, T, head_dim): heads become a batch dimension
        q = self.q_proj(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_head, self.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        # A token added to a filled cache sees every cached position: no mask. Otherwise the
        # queries and keys are the same positions, which the causal mask aligns.
        causal = cache is None or cache.length == 0
        if cache is not None:
            k, v = cache.add(k, v)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal,
            enable_gqa=self.n_kv_head != self.n_head,
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.o_proj(y))


class MLP(nn.Module):
    """SwiGLU: a SiLU-gated product of two projections, projected back to the model's width."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.n_embd, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x)))


class Block(nn.Module):
    """Pre-RMSNorm: each sublayer sees a normalised input and adds to the residual stream."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: KVCache | None = None
    ) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    """Next-token logits for a batch of token ids, and text sampled from them.

    Args:
        vocab_size: token ids are below this; told by the data. With `hf_config` the folder's
            vocabulary is the model's, and a tokenizer with more ids than it is refused.
        block_size: context trained on; told by the data.
        n_layer: transformer blocks.
        n_head: query heads per block.
        n_kv_head: key/value heads per block (grouped-query attention; n_head for classic
            multi-head attention, 1 for multi-query).
        n_embd: width of the residual stream.
        intermediate_size: width of the SwiGLU MLP (8/3 x n_embd gives a 4x GELU MLP's
            parameters).
        rope_theta: base of the rotary frequencies.
        rope_scaling: None, or transformers' dict: {rope_type: linear, factor: F}, or llama3's
            with factor, low_freq_factor, high_freq_factor, original_max_position_embeddings.
        max_position_embeddings: context the rotary frequencies were made for (None: block_size);
            a block_size beyond it (times a scaling's factor) is refused.
        rms_norm_eps: added to the mean square in every RMSNorm.
        tie_embeddings: the output layer shares the token embedding's weight.
        dropout: after embeddings, on attention weights, and after each sublayer.
        gradient_checkpointing: recompute each block's activations in the backward pass while
            training (less memory, about a third more compute); non-reentrant, so exact.
        hf_config: a Hugging Face Llama folder (or its config.json) whose sizes replace every
            size above (vocabulary to tie_embeddings); dropout and checkpointing stay these.
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int = 6,
        n_head: int = 6,
        n_kv_head: int = 2,
        n_embd: int = 384,
        intermediate_size: int = 1024,
        rope_theta: float = 10000.0,
        rope_scaling: dict | None = None,
        max_position_embeddings: int | None = None,
        rms_norm_eps: float = 1e-5,
        tie_embeddings: bool = True,
        dropout: float = 0.0,
        gradient_checkpointing: bool = False,
        hf_config: str | None = None,
    ) -> None:
        super().__init__()
        sizes: dict[str, Any] = {
            "n_layer": n_layer,
            "n_head": n_head,
            "n_kv_head": n_kv_head,
            "n_embd": n_embd,
            "intermediate_size": intermediate_size,
            "rope_theta": rope_theta,
            "rope_scaling": normalized_rope_scaling(rope_scaling),
            "max_position_embeddings": max_position_embeddings or block_size,
            "rms_norm_eps": rms_norm_eps,
            "tie_embeddings": tie_embeddings,
        }
        if hf_config is not None:
            from tuneforge.models.llama_hf import llama_sizes

            sizes = llama_sizes(hf_config, vocab_size)
            vocab_size = sizes.pop("vocab_size")
        self.config = config = LlamaConfig(vocab_size, block_size, dropout=dropout, **sizes)
        check_config(config)
        self.gradient_checkpointing = gradient_checkpointing
        self.embed_tokens = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.rotary = RotaryEmbedding(config)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.norm = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_embeddings:  # named_parameters() lists it once, as embed_tokens.weight
            self.lm_head.weight = self.embed_tokens.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init: each block adds two projections to the residual stream, so their
        # weights shrink with depth to keep the stream's variance constant.
        for name, param in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters; by default without an untied token embedding, a lookup that computes
        nothing (as scaling laws count them). A tied one counts once, as the output layer."""
        total = sum(p.numel() for p in self.parameters())
        if non_embedding and not self.config.tie_embeddings:
            return total - self.embed_tokens.weight.numel()
        return total

    def forward(self, idx: torch.Tensor, cache: list[KVCache] | None = None) -> torch.Tensor:
        """Logits (B, T, vocab_size) for token ids (B, T). With `cache` (one per block) the ids
        continue the cached positions, whose keys and values are kept for the next call."""
        start = cache[0].length if cache else 0
        length = idx.shape[1]
        if start and length > 1:  # the causal mask of several new tokens would ignore the cache
            raise ValueError("a filled KVCache takes one token at a time")
        if start + length > self.config.context_limit:
            raise ValueError(
                f"a sequence of {start + length} tokens is longer than the model's context of "
                f"{self.config.context_limit}"
            )
        x = self.drop(self.embed_tokens(idx))
        cos, sin = self.rotary(start, length, x)
        for i, block in enumerate(self.layers):
            if self.gradient_checkpointing and self.training:
                x = checkpoint(block, x, cos, sin, use_reentrant=False)
            else:
                x = block(x, cos, sin, cache[i] if cache else None)
        return self.lm_head(self.norm(x))  # (B, T, C) -> (B, T, vocab_size)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Extend each row of `idx` (B, T) by `max_new_tokens` sampled tokens: (B, T + new).

        The tokens are those of running the whole context each step (`use_cache=False`): the
        cache holds keys and values up to the model's context (`context_limit`, the block size
        unless the positions reach further), and beyond it the context slides, recomputed from
        its last tokens each step as GPT does.
        Sampling follows torch's global generator, so `torch.manual_seed` repeats a sample;
        `top_k=1` is greedy. Call `eval()` first unless dropout should stay on.
        """
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} must be > 0")
        limit = self.config.context_limit
        capacity = min(limit, idx.shape[1] + max_new_tokens)
        like = self.embed_tokens.weight
        cache = None
        for _ in range(max_new_tokens):
            if not use_cache or idx.shape[1] > capacity:
                logits = self(idx[:, -limit:])
            elif cache is None:  # the prompt fills the cache
                cache = [KVCache(like, len(idx), self.config, capacity) for _ in self.layers]
                logits = self(idx, cache)
            else:
                logits = self(idx[:, -1:], cache)
            next_id = sample_next(logits[:, -1, :], temperature, top_k)
            idx = torch.cat((idx, next_id), dim=1)
        return idx

    def flops_per_token(self, context: int | None = None) -> int:
        """Training FLOPs per token (forward and backward) at `context` tokens (default: the
        block size), GPT's convention: 6 per parameter that multiplies (`num_params`), plus
        attention's score and value products, 12 x n_layer x n_embd x context (PaLM, app. B).
        Grouped-query attention shares keys and values, not these products: every query head
        still scores every position."""
        config = self.config
        context = config.block_size if context is None else context
        return training_flops_per_token(self.num_params(), config.n_layer, config.n_embd, context)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention). A tied
        output layer is the token embedding, so it belongs to the embedding group."""
        del coarse  # one group per block either way
        return {
            "stem": r"^embed_tokens",
            "blocks": [(r"^layers\.(\d+)", None), (r"^(?:norm|lm_head)", (99999,))],
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
