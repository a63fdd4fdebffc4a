"""Our GPT as a Hugging Face GPT-2: the config and the weights `GPT2LMHeadModel` loads.

The layouts are the same (learned positions, pre-LayerNorm, 4x GELU MLP, tied output layer), so
this is renaming, with two differences of form: GPT-2 keeps its projections in `Conv1D` layers,
whose weights are the transpose of a Linear's, and it always has biases (a model built with
`bias=False` exports zeros there, which compute the same). No `transformers` import is needed.
"""

import torch

from tuneforge.models.gpt import GPT

# Weights stored transposed in GPT-2's Conv1D layers.
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_gpt2_config(model: GPT) -> dict:
    """config.json for `transformers.GPT2LMHeadModel`."""
    config = model.config
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": None,  # 4 x n_embd
        "activation_function": "gelu_new",  # the tanh GELU our MLP uses
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "layer_norm_epsilon": 1e-5,
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": None,
    }


def hf_gpt2_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """The weights under GPT-2's names, Conv1D weights transposed, missing biases as zeros."""
    state = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to transformer.wte.weight, which GPT-2 reads for both
        state[name] = tensor.t().contiguous() if name.endswith(CONV1D) else tensor.clone()
    if not model.config.bias:
        for name, module in model.named_modules():
            has_bias = isinstance(module, torch.nn.Linear | torch.nn.LayerNorm)
            if has_bias and name != "lm_head" and module.bias is None:
                state[f"{name}.bias"] = torch.zeros(module.weight.shape[0])
    return state
