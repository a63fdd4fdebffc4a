"""`tuneforge export`: LoRA merged into plain weights, and ONNX and TorchScript files that run
outside tuneforge and give the model's outputs."""

import importlib.util
import json
import warnings

import pytest
import torch

from tuneforge.cli import export
from tuneforge.errors import ConfigError
from tuneforge.finetune import add_lora, merge_lora
from tuneforge.models import GPT, MLP
from tuneforge.models.lstm import LSTMClassifier
from tuneforge.models.transformer import TransformerClassifier
from tuneforge.run.build import build
from tuneforge.run.export_formats import example_input, write_onnx, write_torchscript
from tuneforge.run.from_checkpoint import build_from_checkpoint

from ..conftest import compose_config


def jit_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, still works
        return torch.jit.load(str(path))


def run_export(lora_run, tmp_path, fmt: str):
    overrides = [f"ckpt_path={lora_run.run_dir}", f"format={fmt}", f"paths.output_dir={tmp_path}"]
    return export.run(compose_config("export", overrides), tmp_path)


def adapted_model(lora_run, tmp_path):
    """The LoRA run's model as eval rebuilds it: adapters not merged."""
    overrides = [f"ckpt_path={lora_run.run_dir}", f"paths.output_dir={tmp_path}"]
    built, _ = build_from_checkpoint(compose_config("eval", overrides), tmp_path)
    return built.model.eval()


def test_safetensors_export_merges_lora_into_weights_a_plain_model_loads_strictly(
    lora_run, tmp_path
):
    (tmp_path / "export").mkdir()
    folder = run_export(lora_run, tmp_path / "export", "safetensors")
    weights = f"finetune.checkpoint={folder / 'model.safetensors'}"
    built = build(compose_config("train", [weights, "finetune.strict=true"]), tmp_path / "again")
    report = json.loads((tmp_path / "again" / "load_report.json").read_text())
    assert report["counts"]["matched"] == len(built.model.state_dict())
    images, adapted = torch.randn(5, 1, 8, 8), adapted_model(lora_run, tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(built.model.eval()(images), adapted(images))


def test_a_merged_lora_gpt_is_the_same_gpt_2_for_transformers(tmp_path):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    ours = GPT(vocab_size=30, block_size=12, n_layer=2, n_head=2, n_embd=16).eval()
    add_lora(ours, rank=4)
    for name, param in ours.named_parameters():
        if ".lora_B." in name:  # as training leaves them: B is no longer zero
            torch.nn.init.normal_(param, std=0.1)
    ids = torch.randint(30, (2, 12))
    with torch.no_grad():
        adapted = ours(ids)
        merge_lora(ours)
    export._export_hf(ours, tmp_path)  # what format=hf writes after the merge
    theirs = GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(theirs(ids).logits, adapted, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_portable_export_of_a_lora_run_runs_with_any_batch_size(lora_run, tmp_path, fmt):
    import onnxruntime

    folder = run_export(lora_run, tmp_path, fmt)
    images = torch.randn(5, 1, 8, 8)
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
        got = torch.from_numpy(session.run(None, {"input": images.numpy()})[0])
    else:
        got = jit_load(folder / "model.torchscript.pt")(images)
    with torch.no_grad():
        expected = adapted_model(lora_run, tmp_path)(images)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


# A language model, a text classifier (rows padded with pad_id) and a table classifier.
KINDS = {
    "gpt": (
        lambda: GPT(vocab_size=30, block_size=12, n_layer=1, n_head=2, n_embd=16),
        {"vocab_size": 30, "block_size": 12, "task": "language_modeling"},
    ),
    "transformer": (
        lambda: TransformerClassifier(30, 3, 12, width=16, depth=1, heads=2, pooling="mean"),
        {"vocab_size": 30, "num_classes": 3, "max_length": 12, "pad_id": 0},
    ),
    "table": (lambda: MLP(3, (7,), width=16), {"input_shape": [7], "num_classes": 3}),
}


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_and_torchscript_take_one_row_and_shorter_rows(kind, tmp_path):
    import onnxruntime

    make, spec = KINDS[kind]
    torch.manual_seed(0)
    model = make().eval()
    assert write_onnx(model, spec, tmp_path / "model.onnx") < 1e-4  # checked on a batch of 3
    write_torchscript(model, spec, tmp_path / "model.pt")
    one = example_input(spec, batch=1, shorter=5)  # one row, 7 tokens for the token models
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    with torch.no_grad():
        expected = model(one)
    torch.testing.assert_close(
        torch.from_numpy(session.run(None, {"input": one.numpy()})[0]), expected, atol=1e-4, rtol=0
    )
    torch.testing.assert_close(jit_load(tmp_path / "model.pt")(one), expected)


def test_a_packed_lstm_is_refused_for_onnx_and_traced_for_torchscript(tmp_path):
    spec = {"vocab_size": 30, "num_classes": 3, "max_length": 12, "pad_id": 0}
    model = LSTMClassifier(30, 3, embed_dim=8, hidden_size=8).eval()
    with pytest.raises(ConfigError) as refused:
        write_onnx(model, spec, tmp_path / "model.onnx")
    (line,) = refused.value.lines
    assert "format=onnx cannot export LSTMClassifier" in line and "format=torchscript" in line
    # The trace follows each row's length: the check on padded rows of another length passes.
    assert write_torchscript(model, spec, tmp_path / "model.pt") < 1e-4


class ShapeBranch(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[0] == 2 else x  # Python sees the example's batch of 2


def test_a_trace_that_kept_the_example_shape_is_caught_and_not_kept(tmp_path):
    with pytest.raises(ConfigError, match=r"format=torchscript: .* differ by up to"):
        write_torchscript(ShapeBranch(), {"input_shape": [4]}, tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_onnx_without_its_packages_names_the_install(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "onnxscript" else find_spec(name)
    )
    with pytest.raises(ConfigError, match=r"needs onnxscript; install it with: pip install"):
        write_onnx(MLP(3, (7,)), {"input_shape": [7]}, tmp_path / "model.onnx")
    assert not list(tmp_path.iterdir())
