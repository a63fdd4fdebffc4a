"""Strategies decide what trains from a model's layer groups, ours, timm's or any module's."""

import pytest
import torch
from torch import nn

from tuneforge.finetune.strategies import apply, frozen_at, layer_groups, plan
from tuneforge.models import CNN, ResNet
from tuneforge.tasks.param_groups import decay_groups


def cnn() -> CNN:
    return CNN(10, (1, 8, 8), width=8, depth=3)


def test_groups_run_from_input_to_the_head_and_cover_every_parameter():
    model = cnn()
    groups = layer_groups(model)
    assert [g[0].split(".")[:2] for g in groups] == [
        ["blocks", "0"],
        ["blocks", "1"],
        ["blocks", "2"],
        ["head", "fc"],
    ]
    assert sorted(n for g in groups for n in g) == sorted(n for n, _ in model.named_parameters())


def test_a_module_without_the_interface_is_grouped_by_its_children():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert layer_groups(model) == [["0.weight", "0.bias"], ["2.weight", "2.bias"]]


def test_linear_probe_trains_the_head_only_and_freezes_batchnorm_statistics():
    model = ResNet(10, (3, 32, 32), arch="resnet18", small_stem=True)
    decided = plan(model, "linear_probe")
    apply(model, decided)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.fc.weight", "head.fc.bias"]
    assert "bn1" in decided.frozen_norms and "layer4.1.bn2" in decided.frozen_norms


def test_freeze_takes_groups_from_the_input_side_and_patterns():
    model = cnn()
    apply(model, plan(model, "freeze", freeze_groups=1, freeze_patterns=[r"^blocks\.2\.0"]))
    frozen = {
        n.split(".")[1] + n.split(".")[2]
        for n, p in model.named_parameters()
        if not p.requires_grad
    }
    assert frozen == {"00", "01", "20"}


def test_llrd_scales_each_group_below_the_head_and_the_optimizer_uses_them():
    model = cnn()
    decided = plan(model, "llrd", lr_decay=0.5)
    assert decided.lr_scales["head.fc.weight"] == 1.0
    assert decided.lr_scales["blocks.0.0.0.weight"] == 0.125  # three groups below the head
    groups = decay_groups(model, decided.lr_scales, base_lr=0.1)
    optimizer = torch.optim.AdamW(groups)
    rates = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert rates["decay@1"] == pytest.approx(0.1) and rates["decay@0.125"] == pytest.approx(0.0125)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


@pytest.mark.parametrize(
    ("strategy", "options", "message"),
    [
        ("dora", {}, "strategy='dora' is not known"),
        ("lora", {}, "found no LoRA adapters"),
        ("freeze", {}, "freezes nothing"),
        ("freeze", {"freeze_groups": 4}, "choose 0 to 3"),
        ("llrd", {"lr_decay": 0}, "lr_decay=0 is not in (0, 1]"),
    ],
)
def test_impossible_settings_are_refused_in_one_line(strategy, options, message):
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        plan(cnn(), strategy, **options)


def test_gradual_unfreeze_adds_one_group_from_the_top_every_few_epochs():
    groups = [["a"], ["b"], ["c"], ["head"]]
    assert [sorted(frozen_at(groups, 2, epoch)) for epoch in range(0, 8, 2)] == [
        ["a", "b", "c"],
        ["a", "b"],
        ["a"],
        [],
    ]
    assert frozen_at(groups, 2, 1) == {"a", "b", "c"}
    decided = plan(cnn(), "gradual_unfreeze", unfreeze_every=3)
    assert not decided.frozen and decided.unfreeze_every == 3 and len(decided.groups) == 4
