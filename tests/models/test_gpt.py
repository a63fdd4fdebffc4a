"""The GPT: causal, tied, sized by its config, and sampling that a seed repeats."""

import pytest
import torch

from tuneforge.models import GPT


def tiny_gpt(**kwargs) -> GPT:
    sizes = {"vocab_size": 17, "block_size": 8, "n_layer": 2, "n_head": 2, "n_embd": 16}
    return GPT(**sizes | kwargs).eval()


def test_logits_shape_and_causality():
    torch.manual_seed(0)
    model = tiny_gpt()
    idx = torch.randint(17, (3, 8))
    logits = model(idx)
    assert logits.shape == (3, 8, 17)
    changed = idx.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 17  # later tokens must not change earlier outputs
    torch.testing.assert_close(model(changed)[:, :5], logits[:, :5])
    assert not torch.allclose(model(changed)[:, 5:], logits[:, 5:])


def test_output_layer_is_the_token_embedding():
    model = tiny_gpt()
    assert model.lm_head.weight is model.transformer.wte.weight
    names = [name for name, _ in model.named_parameters()]
    assert "transformer.wte.weight" in names and "lm_head.weight" not in names
    # non-embedding count leaves out the position table only
    assert model.num_params() == model.num_params(non_embedding=False) - 8 * 16


def test_without_bias_has_no_bias_parameters():
    names = [name for name, _ in tiny_gpt(bias=False).named_parameters()]
    assert not any(name.endswith("bias") for name in names)
    assert any(name.endswith("bias") for name, _ in tiny_gpt().named_parameters())


def test_generate_extends_each_row_and_a_seed_repeats_it():
    model = tiny_gpt()
    prompt = torch.zeros(2, 3, dtype=torch.long)
    torch.manual_seed(1)
    first = model.generate(prompt, max_new_tokens=12, temperature=0.8, top_k=5)
    torch.manual_seed(1)
    again = model.generate(prompt, max_new_tokens=12, temperature=0.8, top_k=5)
    assert first.shape == (2, 15)  # longer than block_size: the context slides
    assert torch.equal(first, again)
    assert torch.equal(first[:, :3], prompt)


def test_top_k_one_is_greedy():
    model = tiny_gpt()
    prompt = torch.tensor([[1, 2, 3]])
    out = model.generate(prompt, max_new_tokens=1, temperature=1.0, top_k=1)
    assert out[0, -1] == model(prompt)[0, -1].argmax()


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="n_embd=10 is not a multiple of n_head=4"):
        GPT(vocab_size=5, block_size=4, n_layer=1, n_head=4, n_embd=10)
    with pytest.raises(ValueError, match="longer than block_size=8"):
        tiny_gpt()(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature=0"):
        tiny_gpt().generate(torch.zeros(1, 1, dtype=torch.long), 1, temperature=0)


def test_flops_per_token_counts_parameters_and_attention():
    model = tiny_gpt()
    assert model.flops_per_token() == 6 * model.num_params() + 12 * 2 * 16 * 8
    assert model.flops_per_token(context=4) < model.flops_per_token()


def test_group_matcher_puts_every_parameter_in_a_group_in_order():
    import re

    model = tiny_gpt()
    matcher = model.group_matcher()
    block_patterns = [pattern for pattern, _ in matcher["blocks"]]
    for name, _ in model.named_parameters():
        assert re.match(matcher["stem"], name) or any(re.match(p, name) for p in block_patterns)
