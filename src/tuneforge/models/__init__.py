"""Plain nn.Modules, one per file. They know nothing of Lightning or Hydra.

Every classifier backbone exposes timm's interface: `num_features`, `forward_features`,
`forward_head(x, pre_logits)`, `get_classifier`, `reset_classifier` and `group_matcher`.
"""

from tuneforge.models.cnn import CNN
from tuneforge.models.mlp import MLP

__all__ = ["CNN", "MLP"]
