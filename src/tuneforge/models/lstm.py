"""A recurrent text classifier: token embeddings, a (bidirectional) LSTM or GRU, then a head.

Input is a batch of token ids (B, T), int64, padded at the end of each row with `pad_id`; rows
may have different lengths. The sequences are packed before the recurrent layers, so padding
never reaches them: a row gives the same logits alone as padded inside a longer batch.

Pooling takes the last hidden states: the forward direction's state after the last real token
and, when bidirectional, the backward direction's state after reading back to the first token,
concatenated. That is the classic BiLSTM classifier; both states have read the whole sequence.

`forward_features(ids)` returns `TokenFeatures(tokens, mask)`: the (B, T, num_features) outputs
of the last recurrent layer, zero at padded positions, and the (B, T) mask of real tokens.
`forward_head` pools them with the mask (see `_tokens.py` for why a pair, not a tensor).
"""

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tuneforge.models._head import ClassifierHead, HeadedBackbone
from tuneforge.models._tokens import TokenFeatures, padding_mask

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class LSTMClassifier(HeadedBackbone):
    """Embedding, `num_layers` recurrent layers, last-state pooling and a linear classifier.

    Args:
        vocab_size: number of token ids, told by the data.
        num_classes: outputs of the classifier (0: no classifier, features only).
        pad_id: the id that pads rows to a common length, told by the data.
        embed_dim: width of the token embeddings.
        hidden_size: units of each recurrent layer, per direction.
        num_layers: stacked recurrent layers.
        bidirectional: also read each sequence backwards; doubles `num_features`.
        cell: "lstm" or "gru" (a GRU has 3/4 of the LSTM's parameters and often trains as well).
        dropout: dropout on the embeddings, between recurrent layers and before the classifier.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        pad_id: int = 0,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        cell: Literal["lstm", "gru"] = "lstm",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell={cell!r} is not a recurrent cell; choose one of: lstm, gru")
        self.pad_id = pad_id
        self.bidirectional = bidirectional
        # padding_idx keeps the pad embedding at zero and out of the gradient.
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.drop = nn.Dropout(dropout)
        # torch applies an RNN's dropout between layers only (and warns when there is one layer).
        self.rnn = CELLS[cell](
            embed_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.hidden_size = hidden_size
        self.num_features = hidden_size * (2 if bidirectional else 1)
        self.head = ClassifierHead(self.num_features, num_classes, dropout)

    def forward_features(self, ids: torch.Tensor) -> TokenFeatures:
        mask = padding_mask(ids, self.pad_id)  # (B, T)
        x = self.drop(self.embed(ids))  # (B, T) -> (B, T, embed_dim)
        # Packing needs the lengths on the CPU: one device sync per batch, the price of packing.
        lengths = mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        # total_length pads back to T even when every row of the batch is shorter.
        tokens, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        return TokenFeatures(tokens, mask)  # tokens: (B, T, num_features), zero where padded

    def forward_head(self, features: TokenFeatures, pre_logits: bool = False) -> torch.Tensor:
        tokens, mask = features
        batch = torch.arange(tokens.shape[0], device=tokens.device)
        last = mask.sum(dim=1) - 1  # (B,) position of each row's last real token
        # The forward direction has read the whole row at its last real token.
        pooled = tokens[batch, last, : self.hidden_size]  # (B, T, C) -> (B, hidden_size)
        if self.bidirectional:
            # The backward direction has read the whole row when it reaches position 0.
            backward = tokens[:, 0, self.hidden_size :]  # (B, T, C) -> (B, hidden_size)
            pooled = torch.cat([pooled, backward], dim=1)  # -> (B, 2 * hidden_size)
        return self.head(pooled, pre_logits=pre_logits)

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention).

        One nn.LSTM holds every layer; its parameters end in `_l{layer}` (and `_reverse` for the
        backward direction), so the layer number is read from the name.
        """
        return {"stem": r"^embed\.", "blocks": r"^rnn\.\w+_l(\d+)"}
