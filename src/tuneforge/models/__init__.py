"""Plain nn.Modules, one per file. They know nothing of Lightning or Hydra.

Every classifier backbone exposes timm's interface: `num_features`, `forward_features`,
`forward_head(x, pre_logits)`, `get_classifier`, `reset_classifier` and `group_matcher`.
`timm_model` returns timm's own modules; timm, torchvision and transformers are imported only
when a model that needs them is built, so importing this package stays light.
"""

from tuneforge.models.cnn import CNN
from tuneforge.models.gpt import GPT, GPTConfig
from tuneforge.models.hf_causal_lm import HFCausalLM
from tuneforge.models.hf_encoder import HFEncoderClassifier
from tuneforge.models.llama import Llama, LlamaConfig
from tuneforge.models.lstm import LSTMClassifier
from tuneforge.models.mlp import MLP
from tuneforge.models.resnet import ResNet
from tuneforge.models.timm_backbone import timm_model
from tuneforge.models.transformer import TransformerClassifier

__all__ = [
    "CNN",
    "GPT",
    "MLP",
    "GPTConfig",
    "HFCausalLM",
    "HFEncoderClassifier",
    "LSTMClassifier",
    "Llama",
    "LlamaConfig",
    "ResNet",
    "TransformerClassifier",
    "timm_model",
]
