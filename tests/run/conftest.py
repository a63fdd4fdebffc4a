"""A LoRA fine-tuning run made in-process, shared by the build and export tests."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from ..conftest import compose_config

# A few batches, no logger, no progress bar: the run's checkpoint is what the tests read.
QUICK = ["debug=limit", "logger=none", "callbacks.progress_bar.refresh_rate=0"]


@dataclass
class LoraRun:
    pretrained: Path  # the plain CNN's weights it started from
    run_dir: Path
    metrics: dict


@pytest.fixture(scope="package")
def lora_run(tmp_path_factory) -> LoraRun:
    """`tuneforge train finetune=lora` of the default CNN on digits, from a plain CNN's weights."""
    from safetensors.torch import save_model

    from tuneforge.cli import train
    from tuneforge.run.build import build_model

    folder = tmp_path_factory.mktemp("lora_run")
    pretrained = folder / "pretrained.safetensors"
    plain = build_model(compose_config().model, {"input_shape": (1, 8, 8), "num_classes": 10})
    save_model(plain, str(pretrained))
    overrides = ["finetune=lora", f"finetune.checkpoint={pretrained}", "finetune.lora_rank=4"]
    metrics = train.run(compose_config("train", [*overrides, *QUICK]), folder / "run")
    return LoraRun(pretrained, folder / "run", metrics)
