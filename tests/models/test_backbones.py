"""One contract for every classifier backbone: timm's interface, shapes, and a trainable head."""

import re

import pytest
import torch

from tuneforge.models import CNN, MLP

INPUT_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
BACKBONES = {
    "cnn": lambda shape, n: CNN(num_classes=n, input_shape=shape, width=8, depth=2),
    "cnn_deep": lambda shape, n: CNN(num_classes=n, input_shape=shape, width=4, depth=4),
    "mlp": lambda shape, n: MLP(num_classes=n, input_shape=shape, width=16, depth=2),
}


@pytest.mark.parametrize("shape", INPUT_SHAPES, ids=str)
@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_contract(name, shape):
    model = BACKBONES[name](shape, 10)
    x = torch.randn(4, *shape)

    logits = model(x)
    assert logits.shape == (4, 10)

    features = model.forward_features(x)
    pooled = model.forward_head(features, pre_logits=True)
    assert pooled.shape == (4, model.num_features)
    assert torch.allclose(model.forward_head(features), logits)
    assert model.get_classifier().out_features == 10

    model.reset_classifier(3)
    assert model(x).shape == (4, 3)
    assert model.get_classifier().out_features == 3


@pytest.mark.parametrize("name", BACKBONES)
def test_group_matcher_covers_every_parameter_but_the_head(name):
    model = BACKBONES[name]((1, 8, 8), 10)
    patterns = [re.compile(p) for p in model.group_matcher().values()]
    head = {f"head.{n}" for n, _ in model.head.named_parameters()}
    for param_name, _ in model.named_parameters():
        matched = any(p.match(param_name) for p in patterns)
        assert matched != (param_name in head), param_name


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_learns_a_batch(name):
    torch.manual_seed(0)
    model = BACKBONES[name]((1, 8, 8), 3)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 2
