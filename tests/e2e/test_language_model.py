"""A GPT trained on tiny Shakespeare by the real command, then scored and sampled from."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ..conftest import run_tuneforge
from .conftest import only_run_dir, read_metrics, train_small_gpt
from .test_bad_input import assert_one_line_error

pytestmark = pytest.mark.slow

QUICK_GPT = [
    "experiment=gpt_shakespeare_char",
    "callbacks=[language_model,throughput]",
    "callbacks.throughput.window_size=5",
    "model.n_layer=1",
    "model.n_embd=32",
    "data.batches_per_epoch=15",
    "data.val_sample_batches=2",  # of the 7.75 batches of the validation split
    "trainer.max_epochs=2",
    "trainer.max_steps=30",
    "trainer.log_every_n_steps=5",
    "callbacks.progress_bar.refresh_rate=0",
    "callbacks.generated_text.max_new_tokens=20",
]


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory) -> Path:
    """Two short epochs of a small character GPT on the first 60,000 characters."""
    return train_small_gpt(tmp_path_factory.mktemp("gpt_run"), 60_000, *QUICK_GPT)


def test_metrics_are_token_means_in_nats_perplexity_and_bits(gpt_run):
    metrics = read_metrics(gpt_run)
    assert metrics["monitor"] == "val/loss"
    assert metrics["test/loss"] < math.log(60)  # better than guessing among ~60 characters
    assert metrics["test/perplexity"] == pytest.approx(math.exp(metrics["test/loss"]), rel=1e-4)
    assert metrics["test/bpc"] == pytest.approx(metrics["test/loss"] / math.log(2), rel=1e-4)
    assert metrics["steps"] == 30
    # the validations read a sample, the test every window (the predict test below counts them)
    assert metrics["best/val/loss"] != pytest.approx(metrics["test/loss"], rel=1e-4)


def test_tokenizer_is_in_the_run_folder_and_the_checkpoint(gpt_run):
    saved = json.loads((gpt_run / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["type"] == "char" and "R" in saved["chars"]
    checkpoint = torch.load(gpt_run / "checkpoints" / "best.ckpt", weights_only=True)
    assert json.loads(checkpoint["TextLMDataModule"]["tokenizer"]) == saved
    assert checkpoint["tuneforge"]["data_spec"]["vocab_size"] == len(saved["chars"]) + 1


def test_a_sample_is_logged_at_each_validation(gpt_run):
    events = EventAccumulator(str(gpt_run / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    samples = events.Tensors("samples/generated/text_summary")
    assert [event.step for event in samples] == [15, 30]
    text = samples[-1].tensor_proto.string_val[0].decode()
    assert len(text.strip()) > 10


def test_throughput_counts_tokens_and_peak_memory(gpt_run):
    events = EventAccumulator(str(gpt_run / "tensorboard"))
    events.Reload()
    last = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}
    block_size = 64
    assert last["train/device/samples_per_sec"] > 0
    rate = last["train/device/items_per_sec"] / last["train/device/samples_per_sec"]
    assert rate == pytest.approx(block_size)  # a sample is a window of tokens
    assert last["train/device/flops_per_sec"] > 0  # the GPT counts its FLOPs
    assert "train/device/mfu" not in last  # no peak is known for a CPU
    assert 0.1 < last["train/peak_memory_gib"] < 64


def test_flops_per_batch_is_training_or_forward_flops_of_the_last_batch():
    from tuneforge.models import GPT
    from tuneforge.tasks import LanguageModelingTask

    model = GPT(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=8)
    task = LanguageModelingTask(model, optimizer=torch.optim.AdamW)
    assert task.flops_per_batch is None  # no batch yet
    task(torch.zeros(3, 8, dtype=torch.long))
    assert task.flops_per_batch == model.flops_per_token(8) * 3 * 8
    task.eval()
    assert task.flops_per_batch == model.flops_per_token(8) * 3 * 8 // 3


def test_generate_repeats_with_a_seed_without_the_training_text(gpt_run, tmp_path):
    text = gpt_run.parent / "shakespeare.txt"  # beside the run folder
    text.rename(text.with_suffix(".away"))  # the checkpoint alone must do
    args = ["generate", f"ckpt_path={gpt_run}", "prompt=ROMEO:", "max_new_tokens=40"]
    try:
        first = run_tuneforge(*args, "num_samples=2", "hydra.run.dir=first", cwd=tmp_path)
    finally:
        text.with_suffix(".away").rename(text)
    assert first.returncode == 0, first.stderr
    samples = first.stdout.removesuffix("\n").split("\n" + "-" * 40 + "\n")
    assert len(samples) == 2
    assert all(s.startswith("ROMEO:") and len(s) == len("ROMEO:") + 40 for s in samples)
    again = run_tuneforge(*args, "num_samples=2", cwd=tmp_path)
    assert again.stdout == first.stdout
    other = run_tuneforge(*args, "num_samples=2", "seed=7", cwd=tmp_path)
    assert other.stdout != first.stdout
    assert (tmp_path / "first" / "samples.txt").read_text(encoding="utf-8") == first.stdout


def test_eval_reproduces_the_test_loss(gpt_run, tmp_path):
    result = run_tuneforge("eval", f"ckpt_path={gpt_run}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    evaluated = read_metrics(only_run_dir(tmp_path, "eval"))
    assert evaluated["test/loss"] == pytest.approx(read_metrics(gpt_run)["test/loss"], rel=1e-6)


def test_predict_scores_each_window_and_their_mean_is_the_test_loss(gpt_run, tmp_path):
    result = run_tuneforge("predict", f"ckpt_path={gpt_run}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(only_run_dir(tmp_path, "predict") / "predictions.csv")
    assert list(frame.columns) == ["index", "loss", "perplexity"]
    assert len(frame) == (6_000 - 1) // 64  # the last tenth of 60,000 characters, in blocks of 64
    assert frame["loss"].mean() == pytest.approx(read_metrics(gpt_run)["test/loss"], rel=1e-4)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["temperature=0"], 2, ["temperature=0", "> 0"]),
        (["top_k=0"], 2, ["top_k=0", "null"]),
        (["prompt="], 2, ["prompt is empty"]),
        (["device=tpu"], 2, ["device='tpu'", "auto, cpu, cuda"]),
    ],
)
def test_generate_refuses_bad_arguments_in_one_line(gpt_run, tmp_path, args, code, words):
    result = run_tuneforge("generate", f"ckpt_path={gpt_run}", *args, cwd=tmp_path)
    assert_one_line_error(result, code, words)
    assert not (tmp_path / "outputs").exists()  # nothing left behind, not even outputs/


def test_generate_from_a_classifier_says_it_does_not_generate(default_run, tmp_path):
    result = run_tuneforge("generate", f"ckpt_path={default_run}", cwd=tmp_path)
    assert_one_line_error(result, 4, ["holds a CNN, which does not generate text"])


def _trained_gpt(run_dir: Path):
    from omegaconf import OmegaConf

    from tuneforge.run.from_checkpoint import trained_model

    path = run_dir / "checkpoints" / "best.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    verb = OmegaConf.create({"paths": {}})
    return trained_model(checkpoint, path, False, verb, run_dir / "rebuilt").eval()


def test_hf_export_gives_transformers_the_same_logits(gpt_run, tmp_path):
    from transformers import GPT2LMHeadModel

    result = run_tuneforge("export", f"ckpt_path={gpt_run}", "format=hf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = only_run_dir(tmp_path, "export")
    assert {"config.json", "model.safetensors", "tuneforge_tokenizer.json"} <= {
        p.name for p in folder.iterdir()
    }
    theirs = GPT2LMHeadModel.from_pretrained(folder).eval()
    ours = _trained_gpt(gpt_run)
    idx = torch.randint(ours.config.vocab_size, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(theirs(idx).logits, ours(idx), atol=1e-4, rtol=1e-4)


def test_safetensors_export_loads_back_as_pretrained_weights(gpt_run, tmp_path):
    from tuneforge.finetune import load_pretrained
    from tuneforge.models import GPT

    result = run_tuneforge("export", f"ckpt_path={gpt_run}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = only_run_dir(tmp_path, "export")
    assert "experiment" not in (folder / "config.yaml").read_text()  # resolved, not composed
    ours = _trained_gpt(gpt_run)
    fresh = GPT(
        **{k: getattr(ours.config, k) for k in ("vocab_size", "block_size", "n_layer")},
        n_head=ours.config.n_head,
        n_embd=ours.config.n_embd,
        bias=ours.config.bias,
    )
    report = load_pretrained(fresh, folder / "model.safetensors", strict=True)
    assert not report.missing and not report.mismatched  # the tied output layer too
    idx = torch.randint(ours.config.vocab_size, (1, 16))
    torch.testing.assert_close(fresh.eval()(idx), ours(idx))


def test_hf_export_of_a_classifier_is_refused(default_run, tmp_path):
    result = run_tuneforge("export", f"ckpt_path={default_run}", "format=hf", cwd=tmp_path)
    assert_one_line_error(result, 2, ["format=hf exports GPT models", "format=safetensors"])
