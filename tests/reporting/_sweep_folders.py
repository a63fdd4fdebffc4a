"""Sweep folders as the sweepers leave them, built directly: a numbered run folder per trial
(.hydra/, metrics.json once it finished, its monitored metric in real TensorBoard event files)
beside an Optuna study's optuna.db."""

import json
import os
from pathlib import Path

import yaml


def trial_folder(
    sweep: Path,
    number: int,
    overrides: list[str],
    metrics: dict | None,
    monitor: tuple[str, str] = ("val/loss", "min"),
    curve: dict[int, float] | None = None,
) -> Path:
    """The run folder Hydra leaves for trial `number`; `curve` (step -> value) is what it logged
    of the monitored metric."""
    folder = sweep / str(number)
    (folder / ".hydra").mkdir(parents=True)
    config = {"monitor": {"metric": monitor[0], "mode": monitor[1]}}
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if curve:
        _events(folder / "tensorboard", monitor[0], curve)
    return folder


def _events(folder: Path, tag: str, points: dict[int, float]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for step, value in points.items():
        writer.add_scalar(tag, value, step)
    writer.close()


def snapshot(folder: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every path under `folder`, a file with its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), os.stat(p).st_mtime_ns)
        if p.is_file()
        else None
        for p in sorted(folder.rglob("*"))
    }
