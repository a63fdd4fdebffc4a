"""README's "Fine-tune a language model" section, run as written, in order, on the real
SmolLM2-135M-Instruct weights (a few steps and rows: the experiment's header says what the
whole run reaches)."""

import json
import shlex
import subprocess
import sys

import pytest
import torch

from ..conftest import REPO, TUNEFORGE
from ..test_readme import LLM_SECTION, readme_commands, readme_section

pytestmark = pytest.mark.slow

SECTION = readme_section(LLM_SECTION)
# A few steps, one batch to test and two held-out rows to answer: the commands, not the numbers.
QUICK = {
    "train": [
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "+trainer.num_sanity_val_steps=0",
        "data.val_fraction=0.01",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "callbacks.progress_bar.refresh_rate=0",
    ],
    "predict": ["predict.max_new_tokens=4"],
    "chat": ["max_new_tokens=4"],
}


def _run(line: str, cwd, run_dir) -> subprocess.CompletedProcess:
    words = shlex.split(line.replace("outputs/train/DATE_TIME", str(run_dir)))
    if words[0] == "python":
        command = [sys.executable, *words[1:]]
    else:
        verb = words[1]
        where = run_dir if verb == "train" else cwd / verb
        command = [str(TUNEFORGE), *words[1:], *QUICK.get(verb, []), f"hydra.run.dir={where}"]
    typed = "What is the sentiment of: I love this car!\n/exit\n" if "chat" in words else None
    return subprocess.run(
        command, cwd=cwd, input=typed, capture_output=True, text=True, timeout=900
    )


def test_the_fine_tuning_section_runs_as_written(tmp_path):
    (tmp_path / "scripts").symlink_to(REPO / "scripts")
    run_dir = tmp_path / "run"
    lines = [line for line in SECTION.split("```bash\n")[1].split("```")[0].splitlines()]
    lines = [line.split("  #")[0].strip() for line in lines if line.strip()]
    assert [line for line in lines if line.startswith("tuneforge ")] == readme_commands(
        "tuneforge", SECTION
    )
    for line in lines:
        if "predict.input=" in line:  # two held-out rows are enough to show the command works
            heldout = tmp_path / "data" / "tweets" / "heldout.jsonl"
            heldout.write_text("".join(heldout.read_text().splitlines(True)[:2]))
        result = _run(line, tmp_path, run_dir)
        assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert all("lora_" in name for name in checkpoint["state_dict"])  # 30 MB, not 540
    scores = json.loads((tmp_path / "predict" / "metrics.json").read_text())
    assert scores["rows"] == scores["scored"] == 2
    exported = tmp_path / "export"
    assert (exported / "model.safetensors").stat().st_size > 500e6  # SmolLM2's 135M in float32
    assert "<|im_start|>" in (exported / "chat_template.jinja").read_text()
    cached = list((tmp_path / "models" / "smollm2" / ".tuneforge-cache").iterdir())
    assert len(cached) == 1 and (cached[0] / "tuneforge-gguf.json").is_file()
