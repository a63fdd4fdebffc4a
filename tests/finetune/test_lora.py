"""LoRA through peft on our models: what it adapts, what trains, a merge that changes nothing."""

import pytest
import torch
from torch import nn

from tuneforge.finetune import add_lora, merge_lora
from tuneforge.finetune.lora import is_adapter, lora_targets
from tuneforge.finetune.strategies import apply, plan
from tuneforge.models import CNN, GPT
from tuneforge.models.lstm import LSTMClassifier
from tuneforge.models.transformer import TransformerClassifier

RANK = 4


def gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(vocab_size=20, block_size=16, n_layer=2, n_head=2, n_embd=16)


def cnn() -> CNN:
    torch.manual_seed(0)
    return CNN(10, (1, 8, 8), width=8, depth=2)


def with_lora(model: nn.Module) -> dict[str, torch.Tensor]:
    """Add LoRA, freeze as finetune=lora does; return the weights as they were before."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    add_lora(model, rank=RANK, alpha=8)
    decided = plan(model, "lora")
    apply(model, decided)
    for name in decided.frozen_norms:  # as the task does: their statistics stay pretrained
        model.get_submodule(name).eval()
    return before


def train_a_little(model: nn.Module, batch: torch.Tensor) -> None:
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=0.05)
    for _ in range(3):
        optimizer.zero_grad()
        model(batch).square().mean().backward()
        optimizer.step()


def trainable_names(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def assert_base_unchanged_and_merge_is_exact(model, plain, before, batch, head: set[str]):
    """The pretrained weights did not move; merged, the model gives the adapted outputs and its
    weights load strictly into a model built without LoRA."""
    state = model.state_dict()
    for name, tensor in before.items():
        if name in head:
            continue
        adapted = name.rsplit(".", 1)[0] + ".base_layer." + name.rsplit(".", 1)[1]
        torch.testing.assert_close(state.get(adapted, state.get(name)), tensor, rtol=0, atol=0)
    model.eval()
    with torch.no_grad():
        adapted_out = model(batch)
        assert len(merge_lora(model)) > 0
        merged_out = model(batch)
    torch.testing.assert_close(merged_out, adapted_out, atol=1e-5, rtol=1e-5)
    assert not any(is_adapter(name) for name in model.state_dict())
    plain.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(batch), adapted_out, atol=1e-5, rtol=1e-5)


def test_gpt_trains_only_the_adapters():
    model, batch = gpt(), torch.randint(20, (2, 16))
    before = with_lora(model)
    assert lora_targets(gpt()) == [
        f"transformer.h.{i}.{layer}"
        for i in range(2)
        for layer in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
    ]  # not the output layer: it is the token embedding, which stays frozen
    # Per block: A (rank x in) and B (out x rank) for 16->48, 16->16, 16->64 and 64->16 layers.
    adapters = 2 * RANK * ((16 + 48) + (16 + 16) + (16 + 64) + (64 + 16))
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == adapters
    assert all(is_adapter(name) for name in trainable_names(model))
    train_a_little(model, batch)
    assert_base_unchanged_and_merge_is_exact(model, gpt(), before, batch, head=set())


def test_cnn_adapts_its_convolutions_and_trains_the_head_fully():
    model, batch = cnn(), torch.randn(4, 1, 8, 8)
    before = with_lora(model)
    # Conv LoRA: A is a 3x3 conv to `rank` channels, B a 1x1 conv back to the layer's width.
    shapes = [(1, 8), (8, 8), (8, 16), (16, 16)]  # (in, out) of the four convolutions
    adapters = sum(RANK * (c_in * 9 + c_out) for c_in, c_out in shapes)
    head = {"head.fc.weight", "head.fc.bias"}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == adapters + 16 * 10 + 10
    assert head < trainable_names(model)
    assert "blocks.0.0.1" in plan(model, "lora").frozen_norms
    train_a_little(model, batch)
    assert not torch.equal(model.state_dict()["head.fc.weight"], before["head.fc.weight"])
    assert_base_unchanged_and_merge_is_exact(model, cnn(), before, batch, head)


def test_a_pattern_picks_layers_and_torch_fused_attention_is_left_alone():
    assert lora_targets(gpt(), r"attn\.c_attn") == [
        "transformer.h.0.attn.c_attn",
        "transformer.h.1.attn.c_attn",
    ]
    # nn.TransformerEncoderLayer reads linear1/2 and out_proj's weights directly in eval mode,
    # so adapters there would not run: only the embeddings can be asked for.
    model = TransformerClassifier(30, 3, max_length=8, width=16, heads=2)
    assert lora_targets(model, "embed") == ["embed", "pos_embed"]


@pytest.mark.parametrize(
    ("model", "options", "words"),
    [
        (cnn, {"rank": 0}, ["lora_rank=0 is not possible", ">= 1"]),
        (cnn, {"dropout": 1.0}, ["lora_dropout=1.0", "[0, 1)"]),
        (cnn, {"targets": "attn"}, ["'attn' finds no module", "blocks.0.0.0 (Conv2d)"]),
        (cnn, {"targets": "head"}, ["finds only head (ClassifierHead), head.drop", "blocks.0.0.0"]),
        (cnn, {"targets": "("}, ["lora_targets='(' is not a valid regex"]),
        (
            lambda: LSTMClassifier(30, 3, embed_dim=8, hidden_size=8),
            {},
            ["lora_targets=null finds no Linear or Conv layer", "embed (Embedding)"],
        ),
        (
            lambda: LSTMClassifier(30, 3, embed_dim=8, hidden_size=8),
            {"targets": "rnn"},
            ["finds only rnn (LSTM), which LoRA cannot adapt", "embed (Embedding)"],
        ),
    ],
)
def test_impossible_settings_are_refused_in_one_line(model, options, words):
    with pytest.raises(ValueError) as refused:
        add_lora(model(), **options)
    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message
