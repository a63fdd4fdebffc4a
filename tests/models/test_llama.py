"""Our Llama and transformers' LlamaForCausalLM compute the same logits from the same weights,
read either way; cached generation is uncached generation; impossible sizes are one line; and
`tuneforge train` trains it, exports it for transformers and samples from it."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from transformers import LlamaConfig as HFLlamaConfig
from transformers import LlamaForCausalLM

from tuneforge.finetune import load_pretrained
from tuneforge.models import Llama
from tuneforge.models.llama_hf import hf_llama_config, hf_llama_state_dict
from tuneforge.run.build import build_model

from ..conftest import SHAKESPEARE, compose_config, run_tuneforge
from ..e2e.test_bad_input import assert_nothing_finished, assert_one_line_error
from .test_gpt_hf import scrambled

VOCAB = 37
TOKENS = torch.randint(VOCAB, (3, 12), generator=torch.Generator().manual_seed(1))
SIZES = {"n_layer": 2, "n_head": 4, "n_kv_head": 2, "n_embd": 32, "intermediate_size": 48}
LINEAR = {"rope_type": "linear", "factor": 2.0}
# head_dim 8 at theta 500 gives wavelengths 6, 30, 140 and 660 positions: one kept, one
# interpolated (between 64 / 4 and 64 / 1) and two divided by the factor
LLAMA3 = {
    "rope_type": "llama3",
    "factor": 4.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}


def tiny_llama(**kwargs) -> Llama:
    return Llama(VOCAB, 12, **SIZES | kwargs).eval()


def hf_llama(tie: bool, rope_scaling: dict | None) -> LlamaForCausalLM:
    config = HFLlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=16,
        rope_theta=500.0,
        rope_scaling=dict(rope_scaling) if rope_scaling else None,  # transformers adds to it
        tie_word_embeddings=tie,
    )
    return scrambled(LlamaForCausalLM(config))


def max_difference(hf: LlamaForCausalLM, ours: Llama) -> float:
    with torch.no_grad():
        return (ours.eval()(TOKENS) - hf(TOKENS).logits).abs().max().item()


@pytest.mark.parametrize(
    ("tie", "rope_scaling"), [(True, None), (False, LINEAR), (True, LLAMA3), (False, LLAMA3)]
)
def test_a_transformers_llama_folder_sizes_and_fills_our_llama(tmp_path, tie, rope_scaling):
    hf = hf_llama(tie, rope_scaling)
    hf.save_pretrained(tmp_path)
    ours = Llama(vocab_size=30, block_size=12, hf_config=str(tmp_path))  # a smaller tokenizer
    config = ours.config
    assert (config.vocab_size, config.n_kv_head, config.tie_embeddings) == (VOCAB, 2, tie)
    assert config.rope_theta == 500.0 and config.rope_scaling == rope_scaling
    report = load_pretrained(ours, tmp_path, strict=True)
    tensors = 20 if tie else 21  # an untied output layer is a tensor of its own
    assert report.counts == {
        "source_tensors": tensors,
        "matched": tensors,
        "missing": 0,
        "unexpected": 0,
        "mismatched": 0,
    }
    assert report.stripped_prefixes == ["model."] and not report.transposed
    assert max_difference(hf, ours) < 1e-4


@pytest.mark.parametrize(("tie", "rope_scaling"), [(True, LINEAR), (False, LLAMA3)])
def test_our_llama_exported_gives_transformers_the_same_logits_and_loads_back(
    tmp_path, tie, rope_scaling
):
    ours = scrambled(tiny_llama(tie_embeddings=tie, rope_scaling=rope_scaling))
    save_file(hf_llama_state_dict(ours), tmp_path / "model.safetensors", {"format": "pt"})
    (tmp_path / "config.json").write_text(json.dumps(hf_llama_config(ours)))
    hf = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    assert hf.config.tie_word_embeddings == tie
    assert max_difference(hf, ours) < 1e-4
    fresh = Llama(VOCAB, 12, hf_config=str(tmp_path))
    load_pretrained(fresh, tmp_path, strict=True)
    assert torch.equal(fresh.eval()(TOKENS), ours(TOKENS))


def test_an_old_file_with_rotary_frequencies_loads_them_as_dropped_constants(tmp_path):
    hf = hf_llama(True, None)
    state = hf.state_dict()
    for block in range(2):
        state[f"model.layers.{block}.self_attn.rotary_emb.inv_freq"] = torch.ones(4)
    torch.save(state, tmp_path / "pytorch_model.bin")
    hf.config.to_json_file(tmp_path / "config.json")
    ours = Llama(VOCAB, 12, hf_config=str(tmp_path))
    report = load_pretrained(ours, tmp_path / "pytorch_model.bin", strict=True)
    assert report.dropped == [f"model.layers.{b}.self_attn.rotary_emb.inv_freq" for b in range(2)]
    assert not report.unexpected
    assert max_difference(hf, ours) < 1e-4


def test_cached_generation_is_uncached_generation_token_for_token():
    model = scrambled(tiny_llama())
    prompt = torch.randint(VOCAB, (2, 3), generator=torch.Generator().manual_seed(2))
    # 3 + 14 tokens: past the 12-token context, where the context slides
    greedy = [model.generate(prompt, 14, top_k=1, use_cache=cached) for cached in (True, False)]
    assert greedy[0].shape == (2, 17)
    assert torch.equal(greedy[0], greedy[1])
    assert torch.equal(greedy[0][:, :3], prompt)
    sampled = []
    for cached in (True, False):
        torch.manual_seed(3)
        sampled.append(model.generate(prompt, 8, temperature=0.8, top_k=5, use_cache=cached))
    assert torch.equal(*sampled)


def test_causal_and_gradient_checkpointing_is_exact():
    model = scrambled(tiny_llama())
    changed = TOKENS.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % VOCAB  # later tokens must not change earlier outputs
    torch.testing.assert_close(model(changed)[:, :6], model(TOKENS)[:, :6])
    grads = []
    for checkpointing in (False, True):
        model.gradient_checkpointing = checkpointing
        model.train().zero_grad()
        model(TOKENS).logsumexp(-1).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_refusals_name_the_keys_in_one_line():
    with pytest.raises(ValueError, match="n_embd=30 is not a multiple of n_head=4"):
        tiny_llama(n_embd=30)
    with pytest.raises(ValueError, match="rope_type='yarn' is not supported; choose one of"):
        tiny_llama(rope_scaling={"type": "yarn", "factor": 2.0})
    with pytest.raises(ValueError, match="longer than the model's context of 12"):
        tiny_llama()(torch.zeros(1, 13, dtype=torch.long))
    # a linear factor stretches the positions the block size may use
    assert tiny_llama(max_position_embeddings=6, rope_scaling=LINEAR).config.context_limit == 12


def test_flops_per_token_counts_multiplying_parameters_and_attention():
    tied, untied = tiny_llama(), tiny_llama(tie_embeddings=False)
    assert tied.flops_per_token() == 6 * tied.num_params(non_embedding=False) + 12 * 2 * 32 * 12
    assert untied.num_params() == untied.num_params(non_embedding=False) - VOCAB * 32
    assert untied.flops_per_token(context=4) == 6 * tied.num_params() + 12 * 2 * 32 * 4


def test_group_matcher_puts_every_parameter_in_a_group():
    model = tiny_llama(tie_embeddings=False)
    matcher = model.group_matcher()
    patterns = [matcher["stem"], *(pattern for pattern, _ in matcher["blocks"])]
    for name, _ in model.named_parameters():
        assert sum(bool(re.match(p, name)) for p in patterns) == 1, name


@pytest.mark.parametrize(
    ("preset", "vocab", "parameters"),
    [("llama_smollm2_135m", 49152, 134_515_008), ("llama_1b", 32000, 1_100_048_384)],
)
def test_the_real_model_presets_have_their_models_parameter_counts(preset, vocab, parameters):
    node = compose_config("train", [f"model={preset}"]).model
    with torch.device("meta"):
        model = build_model(node, {"vocab_size": vocab, "block_size": 2048})
    assert model.num_params(non_embedding=False) == parameters


def test_a_tokenizer_larger_than_the_hf_config_vocabulary_is_refused(tmp_path):
    hf_llama(True, None).config.to_json_file(tmp_path / "config.json")
    with pytest.raises(ValueError, match=f"tokenizer has 40 ids, more than the {VOCAB} of"):
        Llama(40, 12, hf_config=str(tmp_path))


# `tuneforge train` on the first 60,000 characters of tiny Shakespeare
TRAIN = ["data=text_lm", "model=llama_tiny", "callbacks.progress_bar.refresh_rate=0"]
QUICK = ["trainer.limit_val_batches=2", "trainer.limit_test_batches=2", "trainer.max_epochs=1"]


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("llama")
    text = SHAKESPEARE.read_text(encoding="utf-8")[:60_000]
    (cwd / "text.txt").write_text(text, encoding="utf-8")
    return cwd


@pytest.fixture(scope="module")
def llama_run(shakespeare) -> Path:
    """Thirty steps of a tiny character Llama, the loss logged every fifth."""
    args = [*TRAIN, *QUICK, "data.path=text.txt", "data.batches_per_epoch=30"]
    args += ["trainer.log_every_n_steps=5", "hydra.run.dir=run"]
    result = run_tuneforge("train", *args, cwd=shakespeare)
    assert result.returncode == 0, result.stderr[-3000:]
    return shakespeare / "run"


def test_tuneforge_train_lowers_the_loss_of_a_tiny_llama(llama_run):
    events = EventAccumulator(str(llama_run / "tensorboard"))
    events.Reload()
    losses = [event.value for event in events.Scalars("train/loss")]
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 0.3
    metrics = json.loads((llama_run / "metrics.json").read_text())
    assert metrics["test/loss"] < math.log(60) - 0.5  # better than guessing among ~60 characters


def test_the_trained_llama_exports_to_transformers_and_generates(llama_run, tmp_path):
    result = run_tuneforge("export", f"ckpt_path={llama_run}", "format=hf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (folder,) = (tmp_path / "outputs" / "export").iterdir()
    assert (folder / "tuneforge_tokenizer.json").is_file()  # characters: ours, not transformers
    spec = torch.load(llama_run / "checkpoints" / "best.ckpt", weights_only=True)["tuneforge"]
    trained = Llama(spec["data_spec"]["vocab_size"], 64, **SIZES | {"intermediate_size": 64})
    load_pretrained(trained, llama_run / "checkpoints" / "best.ckpt", strict=True)
    hf = LlamaForCausalLM.from_pretrained(folder).eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(trained.config.vocab_size, (2, 64), generator=generator)
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, trained.eval()(ids), atol=1e-4, rtol=0)
    args = [f"ckpt_path={llama_run}", "prompt=ROMEO:", "max_new_tokens=30"]
    result = run_tuneforge("generate", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ROMEO:") and len(result.stdout) > len("ROMEO:") + 20


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["model.n_kv_head=3"], ["n_head=4 is not a multiple of n_kv_head=3"]),
        (
            ["model.max_position_embeddings=32"],
            ["data.block_size=64 is longer", "max_position_embeddings=32", "rope_scaling"],
        ),
        (["model.hf_config=hf"], ["tokenizer has", f"more than the {VOCAB} of hf_config=hf"]),
    ],
    ids=["kv_heads", "context", "vocabulary"],
)
def test_train_refuses_impossible_sizes_in_one_line(shakespeare, tmp_path, args, fragments):
    (tmp_path / "hf").mkdir()
    hf_llama(True, None).config.to_json_file(tmp_path / "hf" / "config.json")
    run = [*TRAIN, f"data.path={shakespeare / 'text.txt'}", "hydra.run.dir=run", *args]
    result = run_tuneforge("train", *run, cwd=tmp_path)
    assert_one_line_error(result, 2, fragments)
    assert_nothing_finished(tmp_path / "run")
