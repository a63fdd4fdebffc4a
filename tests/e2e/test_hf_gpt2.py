"""A Hugging Face GPT-2 folder starts `tuneforge train` with every tensor loaded, and a trained
GPT exported as GPT-2 loads back into our GPT with the same logits."""

import json
import random
from pathlib import Path

import pytest
import torch

from ..conftest import run_tuneforge
from .conftest import only_run_dir

pytestmark = pytest.mark.slow

CHARS = "abcdefgh \n"  # the character vocabulary: these ten and an unknown-character id
SIZES = ["model.n_layer=1", "model.n_head=2", "model.n_embd=16", "data.block_size=8"]
QUICK = ["debug=limit", "callbacks.progress_bar.refresh_rate=0"]


@pytest.fixture(scope="module")
def hf_run(tmp_path_factory) -> Path:
    """`tuneforge train` of a character GPT from a random GPT-2 of its sizes, saved by
    transformers, strictly loaded."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cwd = tmp_path_factory.mktemp("hf_gpt2")
    text = random.Random(0).choices(CHARS, k=6000)
    (cwd / "text.txt").write_text("".join(text), encoding="utf-8")
    sizes = {"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 8}
    config = GPT2Config(vocab_size=len(CHARS) + 1, bos_token_id=None, eos_token_id=None, **sizes)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(cwd / "gpt2")
    args = ["data=text_lm", "data.path=text.txt", *SIZES, "finetune.checkpoint=gpt2"]
    result = run_tuneforge("train", *args, "finetune.strict=true", *QUICK, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return only_run_dir(cwd, "train")


def test_every_tensor_of_a_gpt2_folder_is_matched_and_none_refused(hf_run):
    report = json.loads((hf_run / "load_report.json").read_text())
    # 16 tensors: the two embeddings, one block's 12, the final norm's 2
    assert report["counts"] == {
        "source_tensors": 16,
        "matched": 16,
        "missing": 0,
        "unexpected": 0,
        "mismatched": 0,
    }
    assert report["layout"].startswith("Hugging Face GPT-2: Conv1D")
    assert sorted(name.split(".")[-2] for name in report["transposed"]) == [
        "c_attn",
        "c_fc",
        "c_proj",
        "c_proj",
    ]


def test_the_trained_gpt_exported_as_gpt2_loads_back_with_the_same_logits(hf_run, tmp_path):
    from tuneforge.finetune import load_pretrained
    from tuneforge.models import GPT

    def gpt() -> GPT:
        return GPT(len(CHARS) + 1, 8, n_layer=1, n_head=2, n_embd=16).eval()

    result = run_tuneforge("export", f"ckpt_path={hf_run}", "format=hf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    trained, fresh = gpt(), gpt()
    load_pretrained(trained, hf_run / "checkpoints" / "best.ckpt", strict=True)  # what it exports
    report = load_pretrained(fresh, only_run_dir(tmp_path, "export"), strict=True)
    assert len(report.matched) == 16 and not report.unexpected
    idx = torch.randint(len(CHARS) + 1, (2, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(fresh(idx), trained(idx), atol=1e-5, rtol=0)
