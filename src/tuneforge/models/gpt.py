"""A decoder-only transformer in GPT-2's layout, read top-down: attention, MLP, block, model.

The layout is GPT-2's so the weights map one to one onto Hugging Face's `GPT2LMHeadModel`:
learned position embeddings, pre-LayerNorm blocks, a GELU MLP four times as wide as the model,
and an output layer that shares its weight with the token embedding. Attention goes through
`scaled_dot_product_attention`, which picks a fused kernel where the hardware has one.
"""

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    """The sizes of a GPT. `vocab_size` and `block_size` come from the data."""

    vocab_size: int
    block_size: int = 256  # longest context the position table covers
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm layers, as in GPT-2


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(
                f"n_embd={config.n_embd} is not a multiple of n_head={config.n_head}; choose "
                "sizes where n_head divides n_embd"
            )
        self.n_head = config.n_head
        self.dropout = config.dropout
        # query, key and value for all heads in one matrix multiply
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        # (B, T, C) -> (B, n_head, T, head_size): heads become a batch dimension
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's "gelu_new"
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm: each sublayer sees a normalised input and adds to the residual stream."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


def training_flops_per_token(params: int, n_layer: int, n_embd: int, context: int) -> int:
    """A decoder's training FLOPs per token (forward and backward): 6 per parameter that
    multiplies, plus attention's score and value products, 12 x n_layer x n_embd x context
    (PaLM, appendix B)."""
    return 6 * params + 12 * n_layer * n_embd * context


def sample_next(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """One token id per row, (B, 1), drawn from next-token `logits` (B, vocab_size) divided by
    `temperature`, among the `top_k` likeliest only when given (1: greedy)."""
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)


class GPT(nn.Module):
    """Next-token logits for a batch of token ids, and text sampled from them.

    Args:
        vocab_size: token ids are below this; told by the data.
        block_size: longest context; told by the data.
        n_layer: transformer blocks.
        n_head: attention heads per block.
        n_embd: width of the residual stream.
        dropout: after embeddings, attention weights, and each sublayer (0 for pretraining small
            models on enough data).
        bias: biases in Linear and LayerNorm layers (GPT-2 has them; without is a little faster).
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int = 6,
        n_head: int = 6,
        n_embd: int = 384,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.config = config = GPTConfig(
            vocab_size, block_size, n_layer, n_head, n_embd, dropout, bias
        )
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying: reading a token and writing it use one matrix (fewer parameters, and
        # better small models). named_parameters() lists it once, as transformer.wte.weight.
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # GPT-2's scaled init: each block adds two projections to the residual stream, so their
        # weights shrink with depth to keep the stream's variance constant.
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, without the position table by default (as scaling laws count them); the
        token embedding counts once, as the output layer."""
        total = sum(p.numel() for p in self.parameters())
        return total - self.transformer.wpe.weight.numel() if non_embedding else total

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab_size) for token ids (B, T), T <= block_size."""
        length = idx.shape[1]
        if length > self.config.block_size:
            raise ValueError(
                f"a sequence of {length} tokens is longer than block_size={self.config.block_size}"
            )
        positions = torch.arange(length, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))  # (B, T, C) -> (B, T, vocab_size)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
    ) -> torch.Tensor:
        """Extend each row of `idx` (B, T) by `max_new_tokens` sampled tokens: (B, T + new).

        Sampling follows torch's global generator, so `torch.manual_seed` repeats a sample.
        `temperature` < 1 sharpens the distribution; `top_k` keeps only the k likeliest tokens.
        Call `eval()` first unless dropout should stay on.
        """
        if temperature <= 0:
            raise ValueError(f"temperature={temperature} must be > 0")
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size :]  # the model sees at most block_size
            next_id = sample_next(self(context)[:, -1, :], temperature, top_k)
            idx = torch.cat((idx, next_id), dim=1)
        return idx

    def flops_per_token(self, context: int | None = None) -> int:
        """Training FLOPs per token (forward and backward) at `context` tokens (default: the
        block size): 6 per parameter, plus attention's score and value products (PaLM, app. B)."""
        config = self.config
        context = config.block_size if context is None else context
        return training_flops_per_token(self.num_params(), config.n_layer, config.n_embd, context)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention). The tied
        output layer is the token embedding, so it belongs to the embedding group."""
        del coarse  # one group per block either way
        return {
            "stem": r"^transformer\.(?:wte|wpe)",
            "blocks": [(r"^transformer\.h\.(\d+)", None), (r"^transformer\.ln_f", (99999,))],
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())
