"""Causal-LM fine-tuning: next-token cross-entropy on the trained tokens (labels -100 elsewhere).

Batches are dicts of `input_ids`, `labels` and `position_ids` (data/chat_packing.py): labels sit
under the tokens they name, so the logits at position t are scored against the label at t + 1.
The model is called with `position_ids` and no attention mask, which keeps the documents of a
packed row apart and needs no mask for right padding (a causal model never looks ahead).

Losses are token means: in training over the batch's trained tokens, at validation and test over
every trained token of the split (not a mean of batch means), and perplexity is the exp of that.

A model whose pretrained base stays frozen (LoRA, or frozen layers) keeps only what trains in its
checkpoints, with the base's hash (`drop_frozen_base`): 10 MB instead of the
540 MB of SmolLM2-135M. Loading fills the base back in from the model, after checking the hash.
"""

import torch
import torchmetrics
from torch import nn
from torch.nn import functional as F

from tuneforge.errors import CheckpointError
from tuneforge.tasks._supervised import OptimizerFactory, SchedulerFactory, SupervisedTask
from tuneforge.tasks.language_modeling import Perplexity

IGNORE = -100  # the label cross-entropy skips
BASE_KEY = "tuneforge_base"  # in a checkpoint: the frozen base it left out, and its hash


def drop_frozen_base(checkpoint: dict, model: nn.Module, prefix: str) -> None:
    """Leave the frozen base of a pretrained model (one that tells `weights_sha256`) out of
    `checkpoint["state_dict"]`, in place, and record which keys, with the base's source and hash.

    Every entry of the model's state that is not a trainable parameter is the base's: its frozen
    weights, and for a 4-bit base their quantization state (scales, code books) too."""
    sha256 = getattr(model, "weights_sha256", None)
    if sha256 is None:
        return
    params = list(model.named_parameters(remove_duplicate=False))  # tied: under each name
    if all(p.requires_grad for _, p in params):
        return  # full fine-tuning: every weight is the run's own
    trained = {prefix + name for name, p in params if p.requires_grad}
    state = checkpoint["state_dict"]
    frozen = [key for key in state if key.startswith(prefix) and key not in trained]
    for key in frozen:
        del state[key]
    checkpoint[BASE_KEY] = {"source": str(model.source), "sha256": sha256, "keys": frozen}


def restore_frozen_base(checkpoint: dict, model: nn.Module, prefix: str, path: str = "") -> None:
    """Put the base's weights, read from `model`, back into a checkpoint that left them out, in
    place, so that it loads strictly.

    Raises:
        CheckpointError: when `model`'s base is not the one the checkpoint was trained on (its
            hash differs), or the checkpoint's record of it is not plain data.
    """
    base = checkpoint.get(BASE_KEY)
    if base is None:
        return
    keys = base.get("keys") if isinstance(base, dict) else None
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise CheckpointError(f"checkpoint {path}: its {BASE_KEY} record is not a list of names")
    ours = getattr(model, "weights_sha256", None)
    if ours != base.get("sha256"):
        raise CheckpointError(
            f"checkpoint {path} keeps only what trained on base weights {base.get('source')} "
            f"(sha256 {str(base.get('sha256'))[:12]}...), but the model's base "
            f"{getattr(model, 'source', '?')} has sha256 {str(ours)[:12]}...; point "
            "model.path at the base it was trained on"
        )
    # keep_vars: the model's own tensors, not copies; a 4-bit base's keys that a model loaded in
    # full precision lacks (its quantization state) are left out.
    weights = model.state_dict(keep_vars=True)
    state = checkpoint["state_dict"]
    for key in keys:
        name = key.removeprefix(prefix)
        if name in weights:
            state.setdefault(key, weights[name].detach())


def _metrics(prefix: str) -> torchmetrics.MetricCollection:
    return torchmetrics.MetricCollection({"perplexity": Perplexity()}, prefix=prefix)


class CausalLMTask(SupervisedTask):
    """Trains a causal LM (token ids -> next-token logits) on the trained tokens of each batch.

    Args:
        model: maps `input_ids` (B, T) with `position_ids` to logits (B, T, vocab).
        optimizer: called with the trainable param groups.
        scheduler: called with the optimizer and, where it takes one, `total_steps`.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        self.val_metrics = _metrics("val/")
        self.test_metrics = _metrics("test/")

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.model(batch["input_ids"], position_ids=batch.get("position_ids"))

    def token_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean cross-entropy over the batch's trained tokens, and how many there were."""
        logits = self(batch)[:, :-1]  # (B, T-1, vocab): position t predicts label t+1
        labels = batch["labels"][:, 1:]  # (B, T-1)
        count = (labels != IGNORE).sum()
        total = F.cross_entropy(
            logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE, reduction="sum"
        )
        return total / count.clamp(min=1), count

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self.token_loss(batch)
        self.log_train_loss(loss, batch_idx)
        return loss

    def _evaluate(self, batch, metrics: torchmetrics.MetricCollection, stage: str) -> None:
        loss, count = self.token_loss(batch)
        metrics.update(loss, weight=count)  # a token mean over the split
        self.log_evaluation(loss, metrics, stage, int(count))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        drop_frozen_base(checkpoint, self.model, prefix="model.")

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        restore_frozen_base(checkpoint, self.model, prefix="model.")
