"""A Hugging Face text encoder (BERT, MiniLM, RoBERTa, ...) with our classifier head.

The encoder is built from the `config.json` of a local model folder, with fresh weights: the
pretrained ones come through `finetune.checkpoint=FOLDER`, which loads them with a report like
any other weights (the folder's `embeddings.*` names meet this module's `encoder.embeddings.*`
by their dotted prefix). So the model never downloads, and a missing or renamed weight is said,
not skipped. `transformers` is imported only when one is built.

`forward_features(ids)` returns `TokenFeatures(tokens, mask)` as our own sequence models do, so
pooling (`mean` over real tokens, or `cls`, the first token) happens in `forward_head`.
"""

from pathlib import Path
from typing import Literal

import torch

from tuneforge.models._head import ClassifierHead, HeadedBackbone
from tuneforge.models._tokens import TokenFeatures, masked_mean, padding_mask


class HFEncoderClassifier(HeadedBackbone):
    """A pretrained-architecture text encoder, pooled, then a linear classifier.

    Args:
        path: a Hugging Face model folder holding `config.json` (e.g. sentence-transformers'
            all-MiniLM-L6-v2); only the architecture is read from it.
        num_classes: outputs of the classifier, told by the data.
        pad_id: the padding id, told by the data (its tokenizer); padded positions are masked.
        pooling: mean (over the real tokens; what sentence-transformers trains MiniLM for) or
            cls (the first token's state).
        dropout: before the classifier.
    """

    def __init__(
        self,
        path: str,
        num_classes: int,
        pad_id: int = 0,
        pooling: Literal["mean", "cls"] = "mean",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if not (Path(path) / "config.json").is_file():
            raise ValueError(
                f"path={path!r} holds no config.json; point model.path at a Hugging Face model "
                "folder (config.json and model.safetensors)"
            )
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        self.encoder = AutoModel.from_config(config, add_pooling_layer=False)
        self.pad_id = pad_id
        self.pooling = pooling
        self.num_features = config.hidden_size
        self.head = ClassifierHead(self.num_features, num_classes, dropout)

    def forward_features(self, ids: torch.Tensor) -> TokenFeatures:
        mask = padding_mask(ids, self.pad_id)  # (B, T)
        states = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return TokenFeatures(states * mask.unsqueeze(-1), mask)  # (B, T, C), padding zeroed

    def forward_head(self, features: TokenFeatures, pre_logits: bool = False) -> torch.Tensor:
        if self.pooling == "cls":
            pooled = features.tokens[:, 0]  # (B, T, C) -> (B, C)
        else:
            pooled = masked_mean(features.tokens, features.mask)
        return self.head(pooled, pre_logits=pre_logits)

    def group_matcher(self, coarse: bool = False) -> dict[str, str]:
        """Embeddings, then each transformer layer (BERT's names), then the head."""
        del coarse
        return {"stem": r"^encoder\.embeddings", "blocks": r"^encoder\.encoder\.layer\.(\d+)\."}
