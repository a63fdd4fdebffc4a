"""What a report says about a run or a sweep, as plain tables: the terminal shows them with Rich,
report.md as Markdown, from the same rows."""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.reporting.layout import PLOTS
from tuneforge.reporting.run_folder import Run
from tuneforge.reporting.sweep_folder import Sweep

BEST = "best"  # the mark on the best trial's row


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Summary:
    """A report: its title, notes to read first, tables, and plots by paths relative to the
    folder it describes, some with a caption (by path)."""

    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return "" if value is None else str(value)


def run_summary(run: Run) -> Summary:
    summary = Summary(f"Run {run.path.name}")
    if run.metrics is None:
        summary.notes.append(
            "The run did not finish (no metrics.json): this report shows what it logged."
        )
    summary.tables = [_overview(run), _metrics(run)]
    drawn = sorted((run.path / PLOTS).glob("*.png"), key=_plot_order)
    summary.plots = [f"{PLOTS}/{path.name}" for path in drawn]
    return summary


def _plot_order(path: Path) -> tuple[int, str]:
    """The curves first, as training went, then the confusion matrix, then any others."""
    known = ("loss", "metrics", "lr", "confusion_matrix")
    return (known.index(path.stem) if path.stem in known else len(known), path.stem)


def _target(node: Any) -> str:
    """The class or function a config node builds, by its short name."""
    target = node.get("_target_", "") if isinstance(node, dict) else ""
    return target.rsplit(".", 1)[-1]


def _component(choice: str | None, node: Any) -> str:
    """A config group's choice with the class it builds: `cnn (CNN)`."""
    target = _target(node)
    return f"{choice} ({target})" if choice and target else choice or target


def _overview(run: Run) -> Table:
    config, metrics, choices = run.config, run.metrics or {}, run.choices
    optimizer = config.get("optimizer") or {}
    trainer = config.get("trainer") or {}
    last_step = max((c.steps[-1] for c in run.curves.values()), default=None)
    seconds = run.wall_seconds()
    params = run.parameter_count()
    rows = [
        ["experiment", choices.get("experiment") or "none (the defaults)"],
        ["model", _component(choices.get("model"), config.get("model"))],
        ["data", _component(choices.get("data"), config.get("data"))],
        ["optimizer", f"{_target(optimizer)}, lr={number(optimizer.get('lr'))}"],
        ["batch size", number((config.get("data") or {}).get("batch_size"))],
        ["epochs", f"{number(metrics.get('epochs'))} of {number(trainer.get('max_epochs'))}"],
        ["steps", number(metrics.get("steps", last_step))],
        ["wall time", "" if seconds is None else f"{seconds:.1f} s"],
        ["parameters", "" if params is None else f"{params:,}"],
        ["seed", number(config.get("seed"))],
        ["git commit", number(metrics.get("git_commit"))],
        ["overrides", " ".join(run.overrides) or "none"],
    ]
    return Table("Run", ["", ""], rows)


def _metrics(run: Run) -> Table:
    """The last value of each train/ and val/ metric, the best of the monitored one, and the test
    metrics of the best checkpoint."""
    metric, mode = run.monitor
    metrics = run.metrics or {}
    tags = {t for t in run.curves if t.startswith(("train/", "val/"))}
    if f"best/{metric}" in metrics:
        tags.add(metric)  # a run without TensorBoard still has its best value
    rows = []
    for tag in sorted(tags):
        final = number(run.curves[tag].last) if tag in run.curves else ""
        rows.append([tag, final, _best(run, metric, mode) if tag == metric else ""])
    rows += [[key, number(value), ""] for key, value in metrics.items() if key.startswith("test/")]
    return Table(f"Metrics (monitored: {metric}, {mode})", ["metric", "final", "best"], rows)


def _best(run: Run, metric: str, mode: str) -> str:
    """The best value of the monitored metric: metrics.json's, else the best one logged."""
    metrics = run.metrics or {}
    if f"best/{metric}" in metrics:
        return f"{number(metrics[f'best/{metric}'])} (epoch {metrics.get('best/epoch')})"
    curve = run.curves[metric]
    pick = max if mode == "max" else min
    step, value = pick(zip(curve.steps, curve.values, strict=True), key=lambda point: point[1])
    return f"{number(value)} (step {step})"


def sweep_summary(sweep: Sweep) -> Summary:
    direction = "maximize" if sweep.mode == "max" else "minimize"
    summary = Summary(f"Sweep {sweep.path.name}")
    summary.notes.append(
        f"{len(sweep.trials)} trials ({'Optuna' if sweep.kind == 'optuna' else 'Hydra basic'} "
        f"sweeper), {sweep.metric} ({direction}), best first."
    )
    if sweep.shared:
        summary.notes.append("Every trial: `" + " ".join(sweep.shared) + "`")
    if any(trial.state == "PRUNED" and trial.value is not None for trial in sweep.trials):
        summary.notes.append("A pruned trial shows the last value it reported.")
    if sweep.best is None:
        summary.notes.append("No trial completed.")
    best = sweep.best
    rows = [
        [
            BEST if trial is best else "",
            str(trial.number),
            trial.state.lower(),
            number(trial.value),
            " ".join(trial.changes),
        ]
        for trial in sweep.trials
    ]
    columns = ["", "trial", "state", sweep.metric, "overrides"]
    summary.tables = [Table("Trials", columns, rows)]
    return summary
