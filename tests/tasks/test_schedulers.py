"""Warmup and decay schedules, stepped per optimizer step."""

import pytest
import torch

from tuneforge.tasks.schedulers import warmup_constant, warmup_cosine, warmup_stable_decay


def lrs(scheduler, steps: int) -> list[float]:
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    return values


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_cosine_warms_up_linearly_then_decays_to_the_floor():
    values = lrs(
        warmup_cosine(optimizer(), total_steps=100, warmup_steps=10, min_lr_ratio=0.1), 100
    )
    assert values[0] == pytest.approx(1 / 11)
    assert values[:10] == sorted(values[:10])
    assert values[10] == pytest.approx(1.0)
    assert values[10:] == sorted(values[10:], reverse=True)
    assert values[-1] == pytest.approx(0.1, abs=1e-3)


def test_warmup_fraction_counts_from_total_steps_and_steps_win():
    by_fraction = lrs(warmup_cosine(optimizer(), total_steps=200, warmup_fraction=0.1), 21)
    assert max(by_fraction) == by_fraction[20] == pytest.approx(1.0)
    by_steps = lrs(warmup_cosine(optimizer(), 200, warmup_fraction=0.1, warmup_steps=5), 6)
    assert by_steps[5] == pytest.approx(1.0)


def test_constant_after_warmup():
    values = lrs(warmup_constant(optimizer(0.5), total_steps=50, warmup_steps=4), 50)
    assert values[0] == pytest.approx(0.1)
    assert set(values[4:]) == {0.5}


def test_wsd_holds_the_peak_then_decays_linearly_over_its_last_fraction():
    values = lrs(
        warmup_stable_decay(
            optimizer(), total_steps=100, warmup_steps=10, decay_fraction=0.3, min_lr_ratio=0.1
        ),
        100,
    )
    assert values[0] == pytest.approx(1 / 11)
    assert set(values[10:71]) == {1.0}
    assert values[70:] == sorted(values[70:], reverse=True)
    assert values[85] == pytest.approx(1 - 0.9 * 15 / 30)
    assert values[-1] == pytest.approx(0.1 + 0.9 / 30)
