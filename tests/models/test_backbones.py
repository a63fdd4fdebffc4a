"""One contract for every classifier backbone: timm's interface, shapes, and a trainable head.

Like timm's own `tests/test_models.py`, every backbone runs through the same tests: ours, the
torchvision ResNets and timm models, image and text alike. A new backbone joins by one line in
BACKBONES.
"""

import subprocess
import sys

import pytest
import torch
from timm.models import group_parameters
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from tuneforge.models import CNN, MLP, LSTMClassifier, ResNet, TransformerClassifier, timm_model
from tuneforge.tasks.param_groups import decay_groups

VOCAB, MAX_LENGTH, PAD = 50, 16, 0


def padded_ids(lengths: list[int], length: int = 12, seed: int = 0) -> torch.Tensor:
    """(B, length) random token ids, row i real for lengths[i] tokens then padded at the end."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), length), generator=generator)
    for row, n in enumerate(lengths):
        ids[row, n:] = PAD
    return ids


def images(shape):
    return lambda: torch.randn(4, *shape)


def tokens():
    return padded_ids([12, 7, 3, 1])


def lstm(**kwargs):
    return lambda n: LSTMClassifier(VOCAB, n, pad_id=PAD, embed_dim=8, hidden_size=8, **kwargs)


def transformer(pooling):
    return lambda n: TransformerClassifier(
        VOCAB, n, MAX_LENGTH, pad_id=PAD, width=16, depth=2, heads=2, pooling=pooling
    )


# id -> (model for num_classes, a batch of its input). Our own backbones leave only their head
# out of group_matcher; timm models may leave more of their neck to the last group (`OURS`).
BACKBONES = {
    **{
        f"cnn-{'x'.join(map(str, s))}": (lambda n, s=s: CNN(n, s, width=8, depth=2), images(s))
        for s in [(1, 8, 8), (1, 28, 28), (3, 32, 32)]
    },
    "cnn_deep-1x8x8": (lambda n: CNN(n, (1, 8, 8), width=4, depth=4), images((1, 8, 8))),
    **{
        f"mlp-{'x'.join(map(str, s))}": (lambda n, s=s: MLP(n, s, width=16, depth=2), images(s))
        for s in [(1, 8, 8), (3, 32, 32)]
    },
    "resnet18_small_stem-1x28x28": (
        lambda n: ResNet(n, (1, 28, 28), small_stem=True),
        images((1, 28, 28)),
    ),
    "resnet18-3x32x32": (lambda n: ResNet(n, (3, 32, 32)), images((3, 32, 32))),
    "resnet18-1x32x32": (lambda n: ResNet(n, (1, 32, 32)), images((1, 32, 32))),
    "timm_resnet10t-1x28x28": (
        lambda n: timm_model("resnet10t", n, (1, 28, 28)),
        images((1, 28, 28)),
    ),
    "timm_mobilenetv3-3x32x32": (
        lambda n: timm_model("mobilenetv3_small_050", n, (3, 32, 32)),
        images((3, 32, 32)),
    ),
    "lstm": (lstm(), tokens),
    "gru_2layers_forward_only": (lstm(cell="gru", num_layers=2, bidirectional=False), tokens),
    "transformer_cls": (transformer("cls"), tokens),
    "transformer_mean": (transformer("mean"), tokens),
}
OURS = [name for name in BACKBONES if not name.startswith("timm")]
SEQUENCE = ["lstm", "gru_2layers_forward_only", "transformer_cls", "transformer_mean"]


def build(name: str, num_classes: int = 10) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    make_model, make_input = BACKBONES[name]
    return make_model(num_classes), make_input()


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_contract(name):
    model, x = build(name)
    model.eval()  # dropout off: the same input gives the same output
    logits = model(x)
    assert logits.shape == (len(x), 10)

    features = model.forward_features(x)
    assert torch.allclose(model.forward_head(features), logits)
    pooled = model.forward_head(features, pre_logits=True)
    # timm's models with a neck (MobileNetV3's conv_head) widen the features after pooling.
    assert pooled.shape == (len(x), getattr(model, "head_hidden_size", model.num_features))

    classifier = model.get_classifier()
    assert classifier is [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    assert torch.allclose(classifier(pooled), logits, atol=1e-6)

    model.reset_classifier(3)
    assert model(x).shape == (len(x), 3)
    assert model.get_classifier().out_features == 3


class FirstUse(TorchFunctionMode):
    """Records the torch call in which each parameter is first read: the order data meets them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.names = {id(p): n for n, p in model.named_parameters()}
        self.call: dict[str, int] = {}
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.calls += 1
        for value in tree_flatten((args, kwargs))[0]:
            name = self.names.get(id(value))
            if name is not None:
                self.call.setdefault(name, self.calls)
        return func(*args, **kwargs)


@pytest.mark.parametrize("coarse", [False, True], ids=["fine", "coarse"])
@pytest.mark.parametrize("name", BACKBONES)
def test_group_matcher_orders_parameters_from_input_to_output(name, coarse):
    model, x = build(name)
    with FirstUse(model) as used:
        model(x)
    names = [n for n, _ in model.named_parameters()]
    assert sorted(used.call) == sorted(names), "every parameter takes part in the forward pass"

    # timm's own reading of the matcher (what layer-wise LR decay and freezing use).
    group = group_parameters(model, model.group_matcher(coarse=coarse), reverse=True)
    weight = next(n for n, p in model.named_parameters() if p is model.get_classifier().weight)
    assert group[weight] == max(group.values()), "the classifier is in the last group"
    # A parameter read later never sits in an earlier group (calls read parameters together).
    by_call: dict[int, list[int]] = {}
    for param_name, call in used.call.items():
        by_call.setdefault(call, []).append(group[param_name])
    latest = 0
    for call in sorted(by_call):
        assert min(by_call[call]) >= latest, f"{name}: groups out of order at call {call}"
        latest = max(latest, *by_call[call])


@pytest.mark.parametrize("name", OURS)
def test_group_matcher_covers_every_parameter_but_the_head(name):
    model, _ = build(name)
    group = group_parameters(model, model.group_matcher(), reverse=True)
    last = {n for n in group if group[n] == max(group.values())}  # timm's group of the unmatched
    assert last == {n for n, _ in model.named_parameters() if n.startswith("head.")}


@pytest.mark.parametrize("name", BACKBONES)
def test_backward_reaches_every_parameter(name):
    model, x = build(name, num_classes=3)
    model(x).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


@pytest.mark.parametrize("name", ["cnn-1x8x8", "cnn_deep-1x8x8", "mlp-1x8x8", *SEQUENCE])
def test_backbone_learns_a_batch(name):
    model, x = build(name, num_classes=3)
    y = torch.tensor([0, 1, 2, 1])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    first = None
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 2


# Inference mode: torch's transformer takes its fused fast path, as in eval and predict.
@pytest.mark.parametrize("mode", [torch.enable_grad, torch.inference_mode])
@pytest.mark.parametrize("name", SEQUENCE)
def test_padding_never_changes_the_logits(name, mode):
    model, _ = build(name)
    model.eval()
    lengths = [12, 5, 9, 1]
    batch = padded_ids(lengths)
    with mode():
        alone = [model(row[:n].unsqueeze(0)) for row, n in zip(batch, lengths, strict=True)]
        alone = torch.cat(alone)
        together = model(batch)
        more_padding = model(torch.cat([batch, torch.full((4, 4), PAD)], dim=1))
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(more_padding, alone, atol=1e-5)


@pytest.mark.parametrize("name", SEQUENCE)
def test_a_row_of_padding_only_gives_finite_logits(name):
    model, _ = build(name)
    assert torch.isfinite(model(padded_ids([6, 0]))).all()


def test_transformer_says_when_a_batch_is_longer_than_max_length():
    model, _ = build("transformer_cls")
    with pytest.raises(ValueError, match="longer than max_length=16"):
        model(padded_ids([20], length=20))


@pytest.mark.parametrize("name", ["transformer_cls", "lstm"])
def test_embeddings_and_cls_token_get_no_weight_decay(name):
    model, _ = build(name)
    no_decay = {id(p) for g in decay_groups(model) if g["name"] == "no_decay" for p in g["params"]}
    kept = [n for n, p in model.named_parameters() if "embed" in n or "cls_token" in n]
    assert kept and all(id(p) in no_decay for n, p in model.named_parameters() if n in kept)


def test_importing_models_imports_neither_timm_nor_torchvision():
    code = (
        "import sys, tuneforge.models; print('timm' in sys.modules, 'torchvision' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
