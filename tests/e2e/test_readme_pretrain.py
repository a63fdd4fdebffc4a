"""README's "Pretrain a language model at scale" section, run as written, in order, on Debian's
GCIDE (one of its 13 files, and a few steps: the experiment's header says what the whole run
reaches)."""

import shlex
import subprocess
import sys

import pytest
import torch

from ..conftest import REPO, TUNEFORGE
from ..test_readme import PRETRAIN_SECTION, readme_commands, readme_section

pytestmark = [pytest.mark.slow, pytest.mark.system]  # Debian's dict-gcide

SECTION = readme_section(PRETRAIN_SECTION)
QUICK = {
    "train": [
        "trainer.max_steps=4",
        "trainer.val_check_interval=2",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "data.tokenizer_sample_mb=1",
        "callbacks.progress_bar.refresh_rate=0",
    ],
    "generate": ["max_new_tokens=8"],
}


def _run(line: str, cwd, run_dir) -> subprocess.CompletedProcess:
    words = shlex.split(line.replace("outputs/train/DATE_TIME", str(run_dir)))
    if words[0] == "python":
        command = [sys.executable, *words[1:]]
    else:
        verb = words[1]
        where = run_dir if verb == "train" else cwd / verb
        command = [str(TUNEFORGE), *words[1:], *QUICK.get(verb, []), f"hydra.run.dir={where}"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


def test_the_pretraining_section_runs_as_written(tmp_path):
    (tmp_path / "scripts").symlink_to(REPO / "scripts")
    run_dir = tmp_path / "run"
    block = SECTION.split("```bash\n")[1].split("```")[0]
    lines = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("tuneforge ")] == readme_commands(
        "tuneforge", SECTION
    )
    for line in lines:
        result = _run(line, tmp_path, run_dir)
        assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"
        if line.startswith("python scripts/make_corpus.py"):  # one file of 13 shows the commands
            corpus = sorted((tmp_path / "data" / "gcide").glob("*.jsonl"))
            assert len(corpus) == 13
            for extra in corpus[1:]:
                extra.unlink()
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert any(".self_attn.k_proj." in name for name in state)  # the Llama, not the GPT
    assert (tmp_path / "generate").is_dir()
    from transformers import LlamaForCausalLM

    exported = LlamaForCausalLM.from_pretrained(tmp_path / "export")
    assert exported.config.num_key_value_heads == 2
