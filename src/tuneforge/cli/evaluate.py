"""`tuneforge eval ckpt_path=PATH`: score a trained checkpoint on its test (or val) split."""

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tuneforge.errors import ConfigError
from tuneforge.run.files import write_json
from tuneforge.run.from_checkpoint import build_from_checkpoint
from tuneforge.run.provenance import git_commit, versions

log = logging.getLogger(__name__)

SPLITS = ("test", "val")


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    if cfg.split not in SPLITS:
        raise ConfigError(f"split={cfg.split!r} is not valid; choose one of: {', '.join(SPLITS)}")
    built, checkpoint = build_from_checkpoint(cfg, run_dir)
    score = built.trainer.test if cfg.split == "test" else built.trainer.validate
    results = score(built.task, datamodule=built.datamodule, verbose=True)
    metrics: dict[str, Any] = {key: float(value) for key, value in results[0].items()}
    metrics.update(
        {
            "ckpt_path": str(checkpoint.resolve()),
            "split": cfg.split,
            "git_commit": git_commit(),
            **versions(),
        }
    )
    write_json(run_dir / "metrics.json", metrics)
    log.info("Metrics written to %s", run_dir / "metrics.json")
    return metrics
