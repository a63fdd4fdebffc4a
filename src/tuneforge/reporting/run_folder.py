"""A run folder read back: its config, overrides, metrics.json and the scalars it logged."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tuneforge.checkpoint_format import load_safely, run_checkpoint
from tuneforge.reporting.events import Curve, read_curves
from tuneforge.reporting.layout import HYDRA, METRICS

# Buffers that a checkpoint's state_dict holds beside the parameters (BatchNorm's statistics).
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass
class Run:
    path: Path
    config: dict[str, Any]  # .hydra/config.yaml, interpolations unresolved
    overrides: list[str]
    choices: dict[str, Any]  # the config group choices, from .hydra/hydra.yaml
    metrics: dict[str, Any] | None  # metrics.json; None: the run did not finish
    curves: dict[str, Curve]

    @property
    def monitor(self) -> tuple[str, str]:
        """The monitored metric and its mode (max or min)."""
        monitor = self.config.get("monitor") or {}
        return monitor.get("metric", "val/loss"), monitor.get("mode", "min")

    def parameter_count(self) -> int | None:
        """The model's parameter count: from metrics.json, else from the weights of its best
        checkpoint (or its last), else None.

        Raises:
            NotLoaded: a ValueError naming the checkpoint, where it is not a readable torch file.
        """
        metrics = self.metrics or {}
        if "params" in metrics:
            return int(metrics["params"])
        best = metrics.get("best_checkpoint")
        named = self.path / best if best else None
        checkpoint = named if named and named.is_file() else run_checkpoint(self.path)
        return None if checkpoint is None else _count_parameters(checkpoint)

    def wall_seconds(self) -> float | None:
        """metrics.json's wall time, or for a run that did not finish the time between its first
        and last logged value."""
        if self.metrics and "wall_seconds" in self.metrics:
            return float(self.metrics["wall_seconds"])
        times = [t for curve in self.curves.values() for t in curve.wall_times]
        return max(times) - min(times) if times else None


def is_run(path: Path) -> bool:
    return (path / HYDRA / "config.yaml").is_file()


def read_run(path: Path) -> Run:
    """The run folder at `path`, read back.

    Raises:
        ValueError: a file of the run cannot be parsed; the message names it.
    """
    hydra = _parsed(path / HYDRA / "hydra.yaml", yaml.safe_load) or {}
    return Run(
        path=path,
        config=_parsed(path / HYDRA / "config.yaml", yaml.safe_load) or {},
        overrides=[str(o) for o in _parsed(path / HYDRA / "overrides.yaml", yaml.safe_load) or []],
        choices=hydra.get("hydra", {}).get("runtime", {}).get("choices", {}),
        metrics=_parsed(path / METRICS, json.loads),
        curves=read_curves(path),
    )


def _parsed(path: Path, parse: Callable[[str], Any]) -> Any:
    """The parsed content of `path`, or None where it does not exist."""
    if not path.is_file():
        return None
    try:
        return parse(path.read_text())
    except (ValueError, yaml.YAMLError) as ex:
        first = next((line for line in str(ex).splitlines() if line.strip()), "")
        raise ValueError(f"cannot read {path} ({first})") from ex


def _count_parameters(checkpoint: Path) -> int:
    """The number of weights in a Lightning checkpoint's state_dict, buffers left out."""
    state = load_safely(checkpoint)["state_dict"]
    return sum(tensor.numel() for name, tensor in state.items() if not name.endswith(_BUFFERS))
