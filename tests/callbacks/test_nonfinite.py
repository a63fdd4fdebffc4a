"""A NaN loss stops training before the weights take it; skip_nonfinite=N drops such steps as if
their batches were never there."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from tuneforge.callbacks import NonFiniteLoss, NonFiniteLossError


class Line(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.norm = torch.nn.BatchNorm1d(3)  # its running statistics move in the forward pass
        self.layer = torch.nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(self.norm(x)), y)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.1, weight_decay=0.1)


def batches(nan_at: tuple[int, ...] = (), drop: tuple[int, ...] = ()) -> DataLoader:
    """Five batches of 4; those at `nan_at` hold NaN inputs, those at `drop` are left out."""
    x = torch.arange(60, dtype=torch.float32).reshape(5, 4, 3) / 60
    x[list(nan_at)] = float("nan")
    y = x.sum(-1, keepdim=True)
    kept = [i for i in range(5) if i not in drop]
    return DataLoader(TensorDataset(x[kept].flatten(0, 1), y[kept].flatten(0, 1)), batch_size=4)


def fit(loader: DataLoader, callback: NonFiniteLoss | None, model: Line | None = None) -> Line:
    model = model or Line()
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[callback] if callback else [],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    return model


def test_a_nan_loss_stops_training_at_its_step_with_the_weights_of_the_step_before():
    stopped = Line()
    with pytest.raises(NonFiniteLossError, match=r"the training loss was nan at step 2;") as ex:
        fit(batches(nan_at=(2,)), NonFiniteLoss(), stopped)
    assert "lower optimizer.lr" in str(ex.value) and "bf16" in str(ex.value)
    assert "\n" not in str(ex.value)  # one line
    two_steps = fit(batches(drop=(2, 3, 4)), None)
    for mine, theirs in zip(stopped.parameters(), two_steps.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_skipped_steps_leave_weights_and_optimizer_as_if_the_batch_was_not_there():
    callback = NonFiniteLoss(skip=1)
    skipped = fit(batches(nan_at=(2,)), callback)
    without = fit(batches(drop=(2,)), None)
    assert callback.skipped == 1
    mine, theirs = skipped.state_dict(), without.state_dict()
    assert all(torch.equal(mine[name], theirs[name]) for name in theirs)  # BatchNorm's too


def test_past_the_skips_allowed_the_run_stops_and_says_so():
    with pytest.raises(NonFiniteLossError, match=r"at step 3 after 1 such steps were skipped"):
        fit(batches(nan_at=(1, 3)), NonFiniteLoss(skip=1))


def test_the_count_of_skipped_steps_goes_into_checkpoints():
    callback = NonFiniteLoss(skip=3)
    callback.skipped = 2
    resumed = NonFiniteLoss(skip=3)
    resumed.load_state_dict(callback.state_dict())
    assert resumed.skipped == 2
