"""No weight decay on biases, norms and embeddings; frozen parameters are left out."""

from torch import nn

from tuneforge.models import CNN
from tuneforge.tasks.param_groups import decay_groups


def test_biases_norms_and_embeddings_get_no_decay():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    groups = {g["name"]: g for g in decay_groups(model)}
    decayed = {id(p) for p in groups["decay"]["params"]}
    assert decayed == {id(model[1].weight), id(model[3].weight)}
    assert groups["no_decay"]["weight_decay"] == 0.0
    assert len(groups["no_decay"]["params"]) == 1 + 1 + 2 + 1  # embedding, bias, norm, bias


def test_frozen_parameters_are_left_out():
    model = CNN(num_classes=10, input_shape=(1, 8, 8), width=4)
    for param in model.blocks.parameters():
        param.requires_grad = False
    grouped = [p for g in decay_groups(model) for p in g["params"]]
    assert len(grouped) == len(list(model.head.parameters()))
