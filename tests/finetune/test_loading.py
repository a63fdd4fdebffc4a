"""load_pretrained on real weights of each kind a fine-tune starts from, written here."""

import io
import json

import pytest
import torch
import torchvision
from rich.console import Console
from safetensors.torch import save_file
from torch import nn

from tuneforge.finetune import LoadReport, WeightsError, load_pretrained
from tuneforge.models import CNN, MLP, ResNet

SHAPE = (1, 8, 8)


def cnn(num_classes: int = 10, seed: int = 0, **kwargs) -> CNN:
    torch.manual_seed(seed)
    return CNN(num_classes, SHAPE, width=8, **kwargs)


def same_weights(a: nn.Module, b: nn.Module, skip: str = "\0") -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith(skip))


def test_tuneforge_checkpoint_loads_every_tensor(tmp_path):
    trained = cnn(seed=1)
    state = {"model." + k: v for k, v in trained.state_dict().items()}
    state["criterion.weight"] = torch.ones(10)  # a loss's buffer also lives in the task
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "tuneforge": {"config": {}}}, path)

    model = cnn()
    report = load_pretrained(model, path, strict=True)

    assert same_weights(model, trained)
    assert report.counts == {
        "source_tensors": len(state),
        "matched": len(trained.state_dict()),
        "missing": 0,
        "unexpected": 1,
        "mismatched": 0,
    }
    assert report.unexpected == ["criterion.weight"]
    assert report.stripped_prefixes == ["model."]
    assert not report.head_reset
    assert report.head == "head.fc"


def test_safetensors_of_an_mlp(tmp_path):
    torch.manual_seed(1)
    trained = MLP(3, (4,), width=16)
    save_file(trained.state_dict(), tmp_path / "mlp.safetensors")
    torch.manual_seed(0)
    model = MLP(3, (4,), width=16)

    report = load_pretrained(model, tmp_path / "mlp.safetensors")

    x = torch.randn(5, 4)
    assert torch.equal(model.eval()(x), trained.eval()(x))
    assert report.missing == report.unexpected == [] and report.stripped_prefixes == []


@pytest.mark.parametrize(
    "prefix", ["module.", "_orig_mod.", "module._orig_mod.", "model._orig_mod."]
)
def test_ddp_and_compile_prefixes_are_stripped(tmp_path, prefix):
    trained = cnn(seed=1)
    path = tmp_path / "weights.pt"
    torch.save({prefix + k: v for k, v in trained.state_dict().items()}, path)
    model = cnn()
    report = load_pretrained(model, path, strict=True)
    assert same_weights(model, trained)
    assert report.stripped_prefixes == [prefix]


def test_compiled_submodule_and_wrapped_state_dict(tmp_path):
    """torch.compile on one block puts `_orig_mod.` inside names; papers wrap under "model"."""
    trained = cnn(seed=1)
    state = {k.replace("blocks.", "blocks._orig_mod."): v for k, v in trained.state_dict().items()}
    torch.save({"model": state, "epoch": 90, "args": {"lr": 0.1}}, tmp_path / "paper.pth")
    model = cnn()
    load_pretrained(model, tmp_path / "paper.pth", strict=True)
    assert same_weights(model, trained)


def test_a_model_whose_own_names_start_with_model_keeps_them(tmp_path):
    wrapper = nn.ModuleDict({"model": cnn(seed=1)})
    torch.save(wrapper.state_dict(), tmp_path / "w.pt")
    fresh = nn.ModuleDict({"model": cnn()})
    report = load_pretrained(fresh, tmp_path / "w.pt", strict=True)
    assert report.stripped_prefixes == [] and not report.missing
    assert same_weights(fresh, wrapper)


@pytest.fixture(scope="module")
def torchvision_resnet18(tmp_path_factory):
    """torchvision's resnet18 state dict, as its ImageNet .pth file is laid out (1000 classes)."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("tv") / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_torchvision_resnet_fc_pairs_with_our_head_fc(torchvision_resnet18):
    """Only the classifier's name differs (`fc.` vs `head.fc.`); it is paired automatically."""
    source = torch.load(torchvision_resnet18, weights_only=True)
    model = ResNet(1000, (3, 32, 32))
    report = load_pretrained(model, torchvision_resnet18, strict=True)
    assert report.renamed == {"fc.weight": "head.fc.weight", "fc.bias": "head.fc.bias"}
    assert len(report.matched) == 122 and not report.unexpected and not report.head_reset
    assert torch.equal(model.head.fc.weight, source["fc.weight"])
    assert torch.equal(model.layer4[1].bn2.running_var, source["layer4.1.bn2.running_var"])


@pytest.mark.parametrize("key_map", [None, {r"^fc\.": "head.fc."}])
def test_torchvision_resnet_for_ten_classes_resets_the_head(torchvision_resnet18, key_map):
    torch.manual_seed(0)
    model = ResNet(10, (3, 32, 32))
    fresh_head = model.head.fc.weight.clone()
    report = load_pretrained(model, torchvision_resnet18, key_map=key_map, strict=True)
    assert report.head_reset
    assert report.head_message == "head reset for 10 classes (the weights have 1000)"
    assert report.mismatched == {
        "head.fc.weight": ((1000, 512), (10, 512)),
        "head.fc.bias": ((1000,), (10,)),
    }
    assert len(report.matched) == 120 and not report.missing
    assert torch.equal(model.head.fc.weight, fresh_head)
    assert "head reset for 10 classes" in report.summary()


def test_small_stem_resnet_fails_strict_and_loads_the_rest_otherwise(torchvision_resnet18):
    """A 3x3 grayscale stem cannot take the 7x7 RGB filters: outside the head, so strict fails."""
    torch.manual_seed(0)
    model = ResNet(10, (1, 32, 32), small_stem=True)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError) as raised:
        load_pretrained(model, torchvision_resnet18, strict=True)
    message = str(raised.value)
    assert "\n" not in message
    assert "0 of the model's tensors missing and 1 shape-mismatched" in message
    assert "(first: conv1.weight)" in message
    assert raised.value.report.mismatched["conv1.weight"] == ((64, 3, 7, 7), (64, 1, 3, 3))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched

    report = load_pretrained(model, torchvision_resnet18)
    assert len(report.matched) == 119 and report.head_reset


def test_another_class_count_keeps_the_fresh_head(tmp_path):
    trained = cnn(10, seed=1)
    torch.save(trained.state_dict(), tmp_path / "ten.pt")
    model = cnn(5)
    fresh = model.head.fc.weight.clone()
    report = load_pretrained(model, tmp_path / "ten.pt", strict=True)
    assert report.head_message == "head reset for 5 classes (the weights have 10)"
    assert torch.equal(model.head.fc.weight, fresh)
    assert same_weights(model, trained, skip="head.")


def test_strict_names_the_missing_tensors_and_attaches_the_report(tmp_path):
    torch.save(cnn(seed=1).state_dict(), tmp_path / "two_blocks.pt")
    model = cnn(depth=3)
    with pytest.raises(
        WeightsError, match=r"^strict loading of .*two_blocks.pt' failed: 12 of"
    ) as raised:
        load_pretrained(model, tmp_path / "two_blocks.pt", strict=True)
    assert raised.value.report.missing[0] == "blocks.2.0.0.weight"
    report = load_pretrained(model, tmp_path / "two_blocks.pt")
    assert report.counts["missing"] == 12  # a conv and 5 BatchNorm tensors, twice
    assert report.head_reset  # the third block doubles the head's input width


def test_head_without_get_classifier_is_the_last_linear_or_named(tmp_path):
    torch.manual_seed(1)
    torch.save(
        nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 7)).state_dict(), tmp_path / "s.pt"
    )
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    report = load_pretrained(model, tmp_path / "s.pt", strict=True)
    assert (
        report.head == "2"
        and report.head_message == "head reset for 3 classes (the weights have 7)"
    )
    with pytest.raises(WeightsError, match=r"^strict loading .* 2 shape-mismatched"):
        load_pretrained(model, tmp_path / "s.pt", strict=True, head="0")
    with pytest.raises(WeightsError, match=r"^head='fc' is not a module of Sequential"):
        load_pretrained(model, tmp_path / "s.pt", head="fc")


def test_huggingface_folder(tmp_path):
    trained = cnn(seed=1)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "cnn"}))
    save_file(trained.state_dict(), tmp_path / "model.safetensors")
    model = cnn()
    load_pretrained(model, tmp_path, strict=True)
    assert same_weights(model, trained)


def test_report_as_json_table_and_one_line(torchvision_resnet18):
    report = load_pretrained(ResNet(10, (3, 32, 32)), torchvision_resnet18)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["counts"]["matched"] == 120 and data["head_reset"] is True
    assert data["mismatched"]["head.fc.weight"] == {"source": [1000, 512], "model": [10, 512]}
    assert LoadReport(**{k: v for k, v in vars(report).items()}).counts == report.counts

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(report.table())
    text = console.export_text()
    assert "loaded" in text and "120" in text and "... and 110 more" in text
    assert (
        "head.fc.weight [1000, 512] -> [10, 512]" in text and "fc.weight -> head.fc.weight" in text
    )
    assert "\n" not in report.summary()
    assert report.summary().startswith("loaded 120 of the model's 122 tensors from")


def test_unmerged_lora_weights_are_refused_with_the_merge_command(tmp_path):
    from tuneforge.finetune import add_lora

    adapted = cnn()
    add_lora(adapted, rank=2)
    save_file(adapted.state_dict(), tmp_path / "lora.safetensors")
    with pytest.raises(WeightsError, match=r"unmerged LoRA adapters .*tuneforge export ckpt_path="):
        load_pretrained(cnn(), tmp_path / "lora.safetensors")


def test_a_head_for_other_classes_of_the_same_count_starts_fresh(tmp_path):
    from tuneforge.finetune.weights import stored_class_names

    trained, fresh = cnn(num_classes=3, seed=1), cnn(num_classes=3, seed=2)
    state = {"model." + k: v for k, v in trained.state_dict().items()}
    spec = {"class_names": ["coat", "shirt", "bag"]}
    torch.save({"state_dict": state, "tuneforge": {"data_spec": spec}}, tmp_path / "a.ckpt")
    assert stored_class_names(tmp_path / "a.ckpt") == ["coat", "shirt", "bag"]

    model = cnn(num_classes=3, seed=2)
    report = load_pretrained(model, tmp_path / "a.ckpt", reset_head="other classes")

    assert same_weights(model, trained, skip="head.")
    assert same_weights(model.head, fresh.head)
    assert report.head_reset and report.head_message == "head reset: other classes"
    assert set(report.missing) == {"head.fc.weight", "head.fc.bias"}


def test_weights_that_do_not_name_their_classes_say_none(tmp_path):
    from tuneforge.finetune.weights import stored_class_names

    save_file(cnn().state_dict(), tmp_path / "w.safetensors")
    torch.save({"state_dict": {}}, tmp_path / "plain.ckpt")
    assert stored_class_names(tmp_path / "w.safetensors") is None
    assert stored_class_names(tmp_path / "plain.ckpt") is None
