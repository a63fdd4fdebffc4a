"""Our GPT and transformers' GPT2LMHeadModel compute the same logits from the same weights, read
either way: a GPT-2 folder into our GPT, our GPT exported to GPT-2, and our export loaded back."""

import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

from tuneforge.finetune import WeightsError, load_pretrained
from tuneforge.models import GPT
from tuneforge.models.gpt_hf import hf_gpt2_config, hf_gpt2_state_dict

from .test_gpt import tiny_gpt

TOKENS = torch.randint(17, (3, 8), generator=torch.Generator().manual_seed(1))


def scrambled(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """`model` with every parameter drawn anew, far from its init (biases not zero, norms not
    one), so that a tensor loaded wrong shows in the logits."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.3)
    return model.eval()


def hf_gpt2(seed: int = 0) -> GPT2LMHeadModel:
    config = GPT2Config(vocab_size=17, n_positions=8, n_embd=16, n_layer=2, n_head=2)
    return scrambled(GPT2LMHeadModel(config), seed)


def assert_same_logits(hf: GPT2LMHeadModel, ours: GPT) -> None:
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(TOKENS), hf(TOKENS).logits, atol=1e-5, rtol=0)


def export_folder(model: GPT, folder) -> None:
    """What `tuneforge export format=hf` writes, without a run."""
    folder.mkdir()
    save_file(hf_gpt2_state_dict(model), folder / "model.safetensors", {"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_gpt2_config(model)))


def test_a_gpt2_folder_loads_into_our_gpt_with_every_tensor_matched(tmp_path):
    hf = hf_gpt2()
    hf.save_pretrained(tmp_path)
    ours = tiny_gpt()
    report = load_pretrained(ours, tmp_path, strict=True)
    tensors = len(hf_gpt2_state_dict(ours))
    assert report.counts == {
        "source_tensors": tensors,
        "matched": tensors,
        "missing": 0,
        "unexpected": 0,
        "mismatched": 0,
    }
    assert report.layout.startswith("Hugging Face GPT-2: Conv1D")
    assert len(report.transposed) == 4 * 2  # four projections in each of two blocks
    assert_same_logits(hf, ours)


def test_a_square_conv1d_weight_is_transposed_like_the_others(tmp_path):
    # attn.c_proj is (16, 16) in both layouts; loading it as stored "matched" and was wrong.
    hf = hf_gpt2()
    hf.save_pretrained(tmp_path)
    ours = tiny_gpt()
    report = load_pretrained(ours, tmp_path)
    theirs = hf.transformer.h[1].attn.c_proj.weight
    assert "transformer.h.1.attn.c_proj.weight" in report.matched
    assert torch.equal(ours.transformer.h[1].attn.c_proj.weight, theirs.t())
    assert not torch.equal(ours.transformer.h[1].attn.c_proj.weight, theirs)


def test_a_bare_gpt2model_file_with_mask_buffers_and_lm_head_loads(tmp_path):
    # Older files: GPT2Model's names (no `transformer.`), each block's causal mask, a tied
    # lm_head.weight, a .bin with no config.json beside it.
    hf = hf_gpt2()
    state = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items()}
    assert torch.equal(state["lm_head.weight"], state["wte.weight"])
    for block in range(2):
        state[f"h.{block}.attn.bias"] = torch.tril(torch.ones(8, 8)).view(1, 1, 8, 8)
        state[f"h.{block}.attn.masked_bias"] = torch.tensor(-1e4)
    torch.save(state, tmp_path / "pytorch_model.bin")
    ours = tiny_gpt()
    report = load_pretrained(ours, tmp_path, strict=True)
    assert report.dropped == [f"h.{b}.attn.{k}" for b in range(2) for k in ("bias", "masked_bias")]
    assert not report.unexpected and not report.missing and not report.mismatched
    assert_same_logits(hf, ours)


def test_an_untied_output_layer_is_refused_not_half_loaded(tmp_path):
    state = hf_gpt2().state_dict()
    state["lm_head.weight"] = state["lm_head.weight"] + 1.0  # GPT-2 with its own output layer
    torch.save(state, tmp_path / "untied.bin")
    ours = tiny_gpt()
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(WeightsError, match="with different values, but the model ties them"):
        load_pretrained(ours, tmp_path / "untied.bin")
    assert all(torch.equal(before[k], v) for k, v in ours.state_dict().items())


@pytest.mark.parametrize("bias", [True, False])
def test_our_gpt_exported_gives_gpt2_the_same_logits(tmp_path, bias):
    ours = scrambled(tiny_gpt(bias=bias))
    export_folder(ours, tmp_path / "hf")
    assert_same_logits(GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval(), ours)


def test_our_export_loads_back_into_our_gpt_exactly(tmp_path):
    ours = scrambled(tiny_gpt())
    export_folder(ours, tmp_path / "hf")
    fresh = tiny_gpt()
    report = load_pretrained(fresh, tmp_path / "hf", strict=True)
    assert report.matched == [k for k in ours.state_dict() if k != "lm_head.weight"]  # tied
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in ours.state_dict().items())
    assert torch.equal(fresh(TOKENS), ours(TOKENS))
