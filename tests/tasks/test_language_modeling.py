"""Language-model metrics: token means over a whole split, in nats, perplexity and bits."""

import math

import pytest
import torch

from tuneforge.tasks.language_modeling import BitsPerCharacter, Perplexity


def test_perplexity_is_the_exp_of_the_token_mean_not_a_mean_of_batch_values():
    metric = Perplexity()
    metric.update(torch.tensor(1.0), weight=30)  # a full batch
    metric.update(torch.tensor(3.0), weight=10)  # a short last batch
    assert metric.compute().item() == pytest.approx(math.exp((30 * 1.0 + 10 * 3.0) / 40))


def test_bits_per_character_spread_over_the_characters_of_a_token():
    char = BitsPerCharacter(chars_per_token=1.0)
    char.update(torch.tensor(math.log(2)), weight=1)
    assert char.compute().item() == pytest.approx(1.0)  # ln 2 nats = one bit
    bpe = BitsPerCharacter(chars_per_token=4.0)
    bpe.update(torch.tensor(math.log(2) * 4), weight=1)
    assert bpe.compute().item() == pytest.approx(1.0)
