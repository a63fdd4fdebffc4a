"""timm models by name: sized by the data, and one-line errors for a bad name or no network."""

import huggingface_hub
import pytest
import timm
import torch

from tuneforge.models import timm_model


@pytest.fixture
def offline_hf_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache in offline mode: a download fails at once, without retries."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))


def test_unknown_name_suggests_the_closest_ones():
    with pytest.raises(ValueError, match=r"name='convnxt_atto' is not a timm model; did you mean "):
        timm_model("convnxt_atto", 10, (3, 32, 32))


def test_unknown_weights_tag_is_one_line():
    with pytest.raises(ValueError, match=r"name='resnet18.bogus': Invalid pretrained tag"):
        timm_model("resnet18.bogus", 10, (3, 32, 32))


def test_pretrained_offline_says_how_to_get_the_weights(offline_hf_hub):
    with pytest.raises(ValueError) as raised:
        timm_model("resnet10t", 10, (3, 32, 32), pretrained=True)
    message = str(raised.value)
    assert "\n" not in message
    assert "`hf download timm/resnet10t.c3_in1k model.safetensors`" in message
    assert message.endswith("set pretrained_file=PATH")


def test_pretrained_file_is_adapted_to_the_data(tmp_path, offline_hf_hub):
    torch.manual_seed(0)
    imagenet = timm.create_model("resnet10t").state_dict()  # 3 channels, 1000 classes
    torch.save(imagenet, tmp_path / "resnet10t.pth")

    model = timm_model(
        "resnet10t", 10, (1, 28, 28), pretrained_file=str(tmp_path / "resnet10t.pth")
    )
    state = model.state_dict()
    assert torch.equal(state["layer4.0.conv2.weight"], imagenet["layer4.0.conv2.weight"])
    assert state["conv1.0.weight"].shape[1] == 1  # timm summed the RGB filters
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_missing_pretrained_file_is_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"pretrained_file=.* is not a file"):
        timm_model("resnet10t", 10, (3, 32, 32), pretrained_file=str(tmp_path / "none.pth"))
