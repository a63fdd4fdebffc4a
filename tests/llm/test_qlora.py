"""QLoRA's 4-bit base, on the CPU through bitsandbytes' own CPU kernels: what `finetune=qlora`
builds on a GPU (the command refuses a CPU: tests/llm/test_bad_input.py), minus the device."""

from pathlib import Path

import pytest
import torch

from tuneforge.finetune import add_lora
from tuneforge.finetune.strategies import plan
from tuneforge.models import HFCausalLM
from tuneforge.tasks.causal_lm import BASE_KEY, drop_frozen_base, restore_frozen_base

from ._tiny import save_model_folder

# bitsandbytes quantizes in blocks of 64 weights: each layer needs at least that many inputs.
WIDE = {"hidden_size": 128, "intermediate_size": 256}
TARGETS = r"(q|v)_proj$"


@pytest.fixture(scope="module")
def wide_folder(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("wide_llama"), sizes=WIDE)


def _adapted(model: HFCausalLM) -> HFCausalLM:
    add_lora(model, rank=4, targets=TARGETS)
    plan(model, "lora")
    return model


def test_a_4bit_base_trains_only_lora_and_its_checkpoint_loads_on_a_full_precision_base(
    wide_folder,
):
    quantized = _adapted(HFCausalLM(str(wide_folder), quantization="nf4", compute_dtype="float32"))
    q_proj = quantized.hf_model.model.layers[0].self_attn.q_proj.base_layer
    assert type(q_proj).__name__ == "Linear4bit" and q_proj.weight.dtype == torch.uint8

    ids = torch.randint(0, quantized.config.vocab_size, (2, 12))
    quantized.train()
    quantized(ids).logsumexp(-1).mean().backward()
    trained = {n: p for n, p in quantized.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in name for name in trained)
    assert all(p.grad is not None for n, p in trained.items() if "lora_A" in n)
    with torch.no_grad():  # B starts at zero: give the adapters something to carry
        for param in trained.values():
            param.add_(0.01 * torch.randn_like(param))

    state = {f"model.{k}": v for k, v in quantized.state_dict().items()}
    checkpoint = {"state_dict": state}
    drop_frozen_base(checkpoint, quantized, "model.")
    assert set(state) == {f"model.{name}" for name in trained}  # not a byte of the 4-bit base
    assert any(key.endswith(".absmax") for key in checkpoint[BASE_KEY]["keys"])

    full = _adapted(HFCausalLM(str(wide_folder)))
    restore_frozen_base(checkpoint, full, "model.")
    full.load_state_dict({k.removeprefix("model."): v for k, v in state.items()}, strict=True)
    for name, param in trained.items():
        assert torch.equal(full.get_parameter(name), param)
    q_full = full.hf_model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert q_full.dtype == torch.float32  # the adapters now sit on the full-precision weights
