"""A run resumed with resume.allow_changes=true trains with its command's optimizer and scheduler
settings over the state Lightning restores, keeping the optimizer's moments and the step."""

from types import SimpleNamespace

import pytest
import torch

from tuneforge.callbacks.new_hyperparameters import NewHyperparameters
from tuneforge.tasks.schedulers import warmup_cosine


def optimizer_and_schedule(model, lr: float, weight_decay: float, schedule) -> tuple:
    groups = [{"params": [model.weight]}, {"params": [model.bias], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    return optimizer, schedule(optimizer)


def resumed_with(old_settings: tuple, new_settings: tuple, steps: int = 4) -> tuple:
    """An optimizer and schedule trained `steps` steps with `old_settings`, then new ones built
    with `new_settings` and restored from the old ones' state as Lightning does, with the
    callback's two hooks around the restore."""
    model = torch.nn.Linear(3, 1)
    old, old_schedule = optimizer_and_schedule(model, *old_settings)
    for _ in range(steps):
        model(torch.ones(3)).sum().backward()
        old.step()
        old_schedule.step()
    new, schedule = optimizer_and_schedule(model, *new_settings)
    trainer = SimpleNamespace(
        optimizers=[new], lr_scheduler_configs=[SimpleNamespace(scheduler=schedule)]
    )
    callback = NewHyperparameters()
    callback.on_fit_start(trainer, None)
    new.load_state_dict(old.state_dict())
    schedule.load_state_dict(old_schedule.state_dict())
    assert new.param_groups[0]["lr"] == old.param_groups[0]["lr"]  # the stored rate, so far
    callback.on_train_start(trainer, None)
    return old, new, schedule, model


def test_the_commands_rate_weight_decay_and_schedule_replace_the_restored_ones():
    def cosine(total_steps):
        return lambda optimizer: warmup_cosine(optimizer, total_steps, 0.0, 2, min_lr_ratio=0.1)

    old, new, schedule, model = resumed_with((0.003, 0.05, cosine(10)), (0.5, 0.1, cosine(20)))
    factor = schedule.lr_lambdas[0]  # the command's: 20 steps
    assert [group["lr"] for group in new.param_groups] == [0.5 * factor(4)] * 2
    assert schedule.get_last_lr() == [0.5 * factor(4)] * 2
    assert [group["weight_decay"] for group in new.param_groups] == [0.1, 0.0]
    assert schedule.last_epoch == 4  # the step, and what the optimizer learned, stay
    assert torch.equal(new.state[model.weight]["exp_avg"], old.state[model.weight]["exp_avg"])
    new.step()
    schedule.step()
    assert new.param_groups[0]["lr"] == pytest.approx(0.5 * factor(5))


def test_a_schedule_of_another_kind_is_scaled_as_its_base_rate_changes():
    def halving(optimizer):
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    _, new, schedule, _ = resumed_with((0.004, 0.05, halving), (0.5, 0.05, halving))
    assert [group["lr"] for group in new.param_groups] == [pytest.approx(0.5 / 4)] * 2
    assert schedule.base_lrs == [0.5, 0.5]
