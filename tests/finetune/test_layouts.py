"""A tensor reported as matched holds the source's values: a foreign layout is converted where we
know how (GPT-2's Conv1D, tests/models/test_gpt_hf.py) and refused where we only see it."""

import pytest
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from tuneforge.finetune import WeightsError, load_pretrained


def stack() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))


def test_weights_stored_transposed_are_refused_whole(tmp_path):
    # Conv1D's (in, out) layout of another model: the square 0.weight fits by shape alone, and
    # was "matched" though it computes something else.
    state = {
        k: v.t().contiguous() if k != "4.weight" else v for k, v in stack().state_dict().items()
    }
    torch.save(state, tmp_path / "conv1d.pt")
    model = stack()
    with torch.no_grad():
        model[0].weight.zero_()
    with pytest.raises(WeightsError) as caught:
        load_pretrained(model, tmp_path / "conv1d.pt")
    message = str(caught.value)
    assert "store 1 tensors transposed against the model (first: 2.weight is (8, 4)" in message
    assert "none was loaded; transpose them to nn.Linear's (out, in) layout first" in message
    assert "\n" not in message
    assert torch.equal(model[0].weight, torch.zeros(8, 8))  # the model is unchanged
    assert caught.value.report.mismatched == {"2.weight": ((8, 4), (4, 8))}


def test_a_resized_head_is_not_taken_for_a_transposed_layout(tmp_path):
    # A head for 8 classes over 3 features, loaded into one for 3 over 8: resized, not refused.
    source = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 8))
    torch.save(source.state_dict(), tmp_path / "head.pt")
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(8, 3))
    report = load_pretrained(model, tmp_path / "head.pt")
    assert report.matched == ["0.weight", "0.bias"] and report.head_reset


def test_gpt2_weights_into_transformers_own_gpt2_stay_as_they_are(tmp_path):
    # Its layers are Conv1D too, so nothing is converted and every tensor loads as stored.
    config = GPT2Config(vocab_size=11, n_positions=4, n_embd=8, n_layer=1, n_head=2)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    torch.manual_seed(1)
    model = GPT2LMHeadModel(config)
    report = load_pretrained(model, tmp_path, strict=True)
    assert report.layout == "" and not report.transposed and not report.mismatched
    saved = GPT2LMHeadModel.from_pretrained(tmp_path)
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in model.state_dict().items())
