"""A transformer encoder text classifier: token and position embeddings, pre-norm blocks, a head.

Input is a batch of token ids (B, T), int64, padded with `pad_id`; rows may have different
lengths. Padded positions are masked out of every attention (`src_key_padding_mask`) and out of
the pooling, so a row gives the same logits alone as padded inside a longer batch.

Pooling is "cls" (a learned token prepended to every row, whose final state is the sequence's
summary, as in BERT and ViT) or "mean" (the mean of the real tokens' final states).

`forward_features(ids)` returns `TokenFeatures(tokens, mask)`: the (B, T', width) final states,
zero at padded positions (T' = 1 + T with a CLS token at position 0, else T), and the (B, T')
mask of real positions. `forward_head` pools them with the mask (see `_tokens.py` for why a pair,
not a tensor).
"""

from typing import Literal

import torch
from torch import nn

from tuneforge.models._head import ClassifierHead, HeadedBackbone
from tuneforge.models._tokens import TokenFeatures, masked_mean, padding_mask


def _init_weights(module: nn.Module) -> None:
    # GPT-2's initialisation. It also gives each encoder layer its own weights:
    # nn.TransformerEncoder deep-copies one layer, so every layer would start as the same function.
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
        if module.padding_idx is not None:
            nn.init.zeros_(module.weight[module.padding_idx])
    elif isinstance(module, nn.MultiheadAttention):  # its q, k, v projection is a bare Parameter
        nn.init.normal_(module.in_proj_weight, std=0.02)
        nn.init.zeros_(module.in_proj_bias)


class TransformerClassifier(HeadedBackbone):
    """Embeddings, `depth` pre-norm encoder blocks, a final LayerNorm, pooling and a classifier.

    Args:
        vocab_size: number of token ids, told by the data.
        num_classes: outputs of the classifier (0: no classifier, features only).
        max_length: the longest sequence the data gives; sizes the position table.
        pad_id: the id that pads rows to a common length, told by the data.
        width: model width; the feed-forward layers are 4 * width wide.
        depth: number of encoder blocks.
        heads: attention heads per block; must divide width.
        pooling: "cls" (a learned summary token) or "mean" (mean of the real tokens).
        dropout: dropout on the embeddings, inside every block and before the classifier.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        max_length: int,
        pad_id: int = 0,
        width: int = 128,
        depth: int = 2,
        heads: int = 4,
        pooling: Literal["cls", "mean"] = "cls",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if heads < 1 or width % heads:
            raise ValueError(f"heads={heads} must divide width={width}; try heads=4 or width=128")
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling={pooling!r} is not a pooling; choose one of: cls, mean")
        self.pad_id, self.max_length, self.pooling = pad_id, max_length, pooling
        # A 1-D CLS vector: the optimizer's no-decay rule (ndim <= 1) keeps it out of weight decay.
        self.cls_token = nn.Parameter(torch.zeros(width)) if pooling == "cls" else None
        self.embed = nn.Embedding(vocab_size, width, padding_idx=pad_id)
        # nn.Embedding rather than a bare (T, C) Parameter, so it is recognised as an embedding.
        self.pos_embed = nn.Embedding(max_length, width)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            width,
            heads,
            dim_feedforward=4 * width,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,  # pre-norm: trains stably without a learning-rate warmup
        )
        # Pre-norm blocks leave the residual stream unnormalised: one LayerNorm closes it.
        # Nested tensors do not support norm_first; turning them off says so instead of warning.
        self.encoder = nn.TransformerEncoder(
            layer, depth, norm=nn.LayerNorm(width), enable_nested_tensor=False
        )
        self.num_features = width
        self.head = ClassifierHead(width, num_classes, dropout)
        self.apply(_init_weights)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)

    def forward_features(self, ids: torch.Tensor) -> TokenFeatures:
        batch, length = ids.shape
        if length > self.max_length:
            raise ValueError(
                f"a batch of {length} tokens per row is longer than max_length={self.max_length}"
            )
        mask = padding_mask(ids, self.pad_id)  # (B, T)
        positions = torch.arange(length, device=ids.device)
        x = self.embed(ids) + self.pos_embed(positions)  # (B, T, C) + (T, C) -> (B, T, C)
        if self.cls_token is not None:
            cls = self.cls_token.expand(batch, 1, -1)  # (C,) -> (B, 1, C)
            x = torch.cat([cls, x], dim=1)  # -> (B, 1 + T, C)
            mask = torch.cat([mask.new_ones(batch, 1), mask], dim=1)  # -> (B, 1 + T)
        x = self.encoder(self.drop(x), src_key_padding_mask=~mask)  # True there: ignored key
        # Padded positions attended to the real ones but nobody read them: zero them out.
        x = x.masked_fill(~mask.unsqueeze(-1), 0.0)
        return TokenFeatures(x, mask)

    def forward_head(self, features: TokenFeatures, pre_logits: bool = False) -> torch.Tensor:
        tokens, mask = features
        # (B, T', C) -> (B, C): the CLS token's state, or the mean of the real tokens' states
        pooled = tokens[:, 0] if self.pooling == "cls" else masked_mean(tokens, mask)
        return self.head(pooled, pre_logits=pre_logits)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention).

        As in timm's ViT, the final LayerNorm joins the blocks as a last group (ordinal 99999):
        it belongs to the encoder, not to the head. timm reads a regex's groups as layer numbers, so
        alternatives are non-capturing (?:).
        """
        return {
            "stem": r"^(?:cls_token|embed\.|pos_embed\.)",
            "blocks": [(r"^encoder\.layers\.(\d+)\.", None), (r"^encoder\.norm\.", (99999,))],
        }
