"""The random states a checkpoint keeps come back exactly, and load as plain data."""

import io
import random

import numpy as np
import torch

from tuneforge.callbacks.resume import random_states, set_random_states


def draws() -> tuple:
    return random.random(), float(np.random.rand()), float(torch.rand(1)), float(np.random.randn())


def test_random_states_come_back_through_a_weights_only_checkpoint():
    np.random.randn()  # a cached Gaussian is part of NumPy's state
    saved = io.BytesIO()
    torch.save({"random": random_states()}, saved)
    expected = draws()
    draws()
    saved.seek(0)
    set_random_states(torch.load(saved, weights_only=True)["random"])
    assert draws() == expected
