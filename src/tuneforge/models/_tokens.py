"""What the sequence classifiers pass from `forward_features` to `forward_head`.

Pooling a padded batch needs to know which positions are real tokens, and timm's interface
gives `forward_head` nothing but what `forward_features` returned. So our sequence backbones
return a `TokenFeatures` pair: per-token features with padded positions zeroed, and the mask
that says which positions are real. `forward_head` pools with that mask, and
`forward(ids) == forward_head(forward_features(ids))` holds as it does for timm models.
"""

from typing import NamedTuple

import torch


class TokenFeatures(NamedTuple):
    """Unpooled features of a padded batch of token sequences.

    Attributes:
        tokens: (B, T, C) features, zero at padded positions.
        mask: (B, T) bool, True at real tokens. Every row has at least one True.
    """

    tokens: torch.Tensor
    mask: torch.Tensor


def padding_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """(B, T) bool mask of real tokens in `ids`; a row of padding only keeps its first position.

    An empty row would give a sequence of length zero (which packed RNNs reject) and an
    attention row with every key masked (a softmax over nothing: NaN). Reading it as one pad
    token gives finite logits instead, and leaves every other row unchanged.
    """
    mask = ids != pad_id
    empty = ~mask.any(dim=1)
    mask[:, 0] |= empty
    return mask


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens: (B, T, C), (B, T) -> (B, C)."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)  # (B, T) -> (B, T, 1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1)
