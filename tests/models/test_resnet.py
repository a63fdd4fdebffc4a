"""torchvision's ResNets: depths, the small stem, and ImageNet weights from the hub cache."""

import urllib.error

import pytest
import torch
import torchvision

from tuneforge.models import ResNet

FILENAME = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache under tmp_path, where every download fails at once."""

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "hub" / "checkpoints"


@pytest.mark.parametrize(("arch", "width"), [("resnet34", 512), ("resnet50", 2048)])
def test_deeper_resnets_at_32x32(arch, width):
    model = ResNet(10, (3, 32, 32), arch=arch, small_stem=True).eval()
    assert model.num_features == width
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_small_stem_keeps_a_32x32_image_four_times_larger():
    x = torch.randn(1, 3, 32, 32)
    small = ResNet(10, (3, 32, 32), small_stem=True).eval().forward_features(x)
    imagenet = ResNet(10, (3, 32, 32)).eval().forward_features(x)
    assert small.shape == (1, 512, 4, 4)
    assert imagenet.shape == (1, 512, 1, 1)


def test_unknown_arch_is_one_line():
    with pytest.raises(ValueError, match="arch='resnet19' is not a ResNet; choose one of"):
        ResNet(10, (3, 32, 32), arch="resnet19")


def test_pretrained_offline_says_where_to_put_the_file(offline_hub):
    with pytest.raises(ValueError) as raised:
        ResNet(10, (3, 32, 32), pretrained=True)
    message = str(raised.value)
    assert "\n" not in message
    assert f"put it at {offline_hub / FILENAME}" in message
    assert f"https://download.pytorch.org/models/{FILENAME}" in message


def test_pretrained_reads_the_hub_cache_and_adapts_the_ends(offline_hub):
    torch.manual_seed(0)
    imagenet = torchvision.models.resnet18(weights=None).state_dict()
    offline_hub.mkdir(parents=True)
    torch.save(imagenet, offline_hub / FILENAME)

    gray = ResNet(10, (1, 28, 28), pretrained=True)
    state = gray.state_dict()
    assert torch.equal(state["layer3.1.conv2.weight"], imagenet["layer3.1.conv2.weight"])
    # A gray pixel is R = G = B: the summed RGB filters respond to it as the RGB stem would.
    assert torch.allclose(state["conv1.weight"], imagenet["conv1.weight"].sum(1, keepdim=True))
    assert gray.get_classifier().out_features == 10

    small = ResNet(10, (3, 32, 32), small_stem=True, pretrained=True)
    assert small.conv1.weight.shape == (64, 3, 3, 3)  # a new stem: 7x7 filters do not fit
    assert torch.equal(small.state_dict()["bn1.weight"], imagenet["bn1.weight"])
