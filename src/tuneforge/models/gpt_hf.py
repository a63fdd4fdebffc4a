"""Our GPT as a Hugging Face GPT-2 and back: the one table of how the two name and lay out weights.

The layouts are the same (learned positions, pre-LayerNorm, 4x GELU MLP, tied output layer), and so
are the names (`GPT2LMHeadModel`'s), so the table is short. The differences are of form:

- GPT-2 keeps its projections in `Conv1D` layers, whose weights are the transpose of a Linear's.
  `attn.c_proj` is square, so its shape cannot tell the two apart: the direction is a property of
  the file, told by `attn.c_attn`, which never is square (3 x n_embd outputs for n_embd inputs).
- GPT-2 always has biases: a model built with `bias=False` exports zeros there, which compute the
  same.
- Files of the bare `GPT2Model` lack the `transformer.` prefix, and older ones hold each block's
  causal mask as a buffer (`attn.bias`, `attn.masked_bias`): constants our attention computes.

No `transformers` import is needed.
"""

import torch

from tuneforge.models.gpt import GPT

# Weights stored transposed in GPT-2's Conv1D layers.
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Causal-mask buffers that files of GPT-2 may hold; not weights.
MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")  # dotted: c_attn.bias ends in attn.bias
PREFIX = "transformer."  # GPT2LMHeadModel's and our name for everything but the output layer
BODY = ("wte.", "wpe.", "h.", "ln_f.")  # the bare GPT2Model's names, which lack PREFIX
TIED = "lm_head.weight"  # the token embedding again; GPT-2 reads transformer.wte.weight for it
QKV = "attn.c_attn.weight"


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
        if name == TIED:
            continue
        state[name] = tensor.t().contiguous() if name.endswith(CONV1D) else tensor.clone()
    if not model.config.bias:
        for name, module in model.named_modules():
            has_bias = isinstance(module, torch.nn.Linear | torch.nn.LayerNorm)
            if has_bias and name != "lm_head" and module.bias is None:
                state[f"{name}.bias"] = torch.zeros(module.weight.shape[0])
    return state


def is_hf_gpt2(state: dict[str, torch.Tensor]) -> bool:
    """Whether `state` holds GPT-2 projections in Conv1D's (in, out) layout: its attention
    input projections map n_embd inputs to 3 x n_embd outputs along the second dimension."""
    qkv = [t for name, t in state.items() if name.endswith(QKV) and t.dim() == 2]
    return bool(qkv) and all(t.shape[1] == 3 * t.shape[0] for t in qkv)


def gpt_state_dict_from_hf_gpt2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GPT-2 weights (`is_hf_gpt2`) under our names and layouts: the inverse of
    `hf_gpt2_state_dict`. Conv1D weights are transposed, the bare GPT2Model's names gain the
    `transformer.` prefix, and mask buffers are left out; a tied `lm_head.weight` is kept, as
    our GPT's other name for the token embedding."""
    ours = {}
    for name, tensor in state.items():
        if name.endswith(MASK_BUFFERS):
            continue
        name = PREFIX + name if name.startswith(BODY) else name
        ours[name] = tensor.t().contiguous() if name.endswith(CONV1D) else tensor
    return ours
