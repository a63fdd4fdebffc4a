"""`tuneforge train`: fit, test the best checkpoint, and write metrics.json last."""

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tuneforge.atomic_files import write_atomic
from tuneforge.run.build import Built, build
from tuneforge.run.checkpoints import load_weights, read_checkpoint
from tuneforge.run.files import write_json
from tuneforge.run.lock import RunLock
from tuneforge.run.plots import write_plots_after_training
from tuneforge.run.provenance import git_commit, versions
from tuneforge.run.record import accept_run
from tuneforge.run.resume import config_to_resume, fit_from, keep_changes, settings, to_resume
from tuneforge.run.signals import stopped_by_signal
from tuneforge.run.trackers import Trackers
from tuneforge.run.tuner import tune

log = logging.getLogger(__name__)


def _best_checkpoint(trainer: Any) -> str | None:
    callback = trainer.checkpoint_callback
    return getattr(callback, "best_model_path", None) or None


def _trial(trainer: Any) -> Any:
    """The TrialPruning callback of a sweep's trial, or None for a run of its own."""
    from tuneforge.callbacks import TrialPruning

    return next((c for c in trainer.callbacks if isinstance(c, TrialPruning)), None)


def _test(built: Built, best: str | None) -> dict[str, float]:
    """Test the best checkpoint's weights (the last weights where none was saved)."""
    if best is not None:
        load_weights(built.task, read_checkpoint(best), best)
    results = built.trainer.test(built.task, datamodule=built.datamodule, verbose=True)
    return {key: float(value) for key, value in results[0].items()} if results else {}


def _report_data(built: Built, run_dir: Path) -> None:
    """What cleaning did to the data, where the DataModule reports it: printed as a table and
    written to data_report.json (callbacks.data_report shows it in TensorBoard's text tab)."""
    from rich.console import Console

    report = getattr(built.datamodule, "report", None)
    if not report:
        return
    write_json(run_dir / "data_report.json", report)
    if hasattr(built.datamodule, "report_table"):
        Console().print(built.datamodule.report_table())


def _save_tokenizer(built: Built, run_dir: Path) -> None:
    """The fitted tokenizer as tokenizer.json in the run folder, for tools outside tuneforge (the
    checkpoint carries it too, so eval and generate decode the same way)."""
    tokenizer = getattr(built.datamodule, "tokenizer", None)
    if hasattr(tokenizer, "to_json"):  # a pretrained model's tokenizer stays in its folder
        write_atomic(run_dir / "tokenizer.json", lambda handle: handle.write(tokenizer.to_json()))


def _log_hparams(built: Built, metrics: dict[str, Any]) -> None:
    """The resolved config with the final metrics, in TensorBoard's HParams view."""
    from lightning.pytorch.loggers import TensorBoardLogger

    numbers = {f"hp/{k}": v for k, v in metrics.items() if isinstance(v, float)}
    for logger in built.trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(built.config, metrics=numbers)
            logger.finalize("success")


def run(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Train the composed config in `run_dir`, which no other live run may hold; return what
    metrics.json holds. plots/ is drawn from what was logged however the run ends."""
    with RunLock(run_dir), Trackers(run_dir) as trackers:
        try:
            metrics = _train(cfg, run_dir, trackers)
        finally:
            if _is_rank_zero():  # DDP: every rank ends here; one draws
                write_plots_after_training(run_dir)
        trackers.finish(metrics)  # after plots/, which MLflow receives
        return metrics


def _is_rank_zero() -> bool:
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _train(cfg: DictConfig, run_dir: Path, trackers: Trackers) -> dict[str, Any]:
    started = time.perf_counter()
    resumed = to_resume(settings(cfg)[0], run_dir)  # before building: a bad one fails fast
    cfg, changes = config_to_resume(cfg, resumed, run_dir)  # refused unless allow_changes
    built = build(cfg, run_dir)
    trainer = built.trainer
    ckpt_path = fit_from(resumed, built.task, trainer, run_dir, changes)
    accept_run()  # it goes ahead: from here it writes in its folder, .hydra/ and train.log first
    keep_changes(changes, resumed, run_dir)
    trackers.start(trainer, built.config)  # MLflow, W&B: the config, before anything is logged
    _report_data(built, run_dir)
    _save_tokenizer(built, run_dir)
    if ckpt_path is None:  # a resumed run goes on with the values it was tuned with
        tune(built, cfg.get("tune"))
    with stopped_by_signal(trainer, run_dir):
        trainer.fit(built.task, datamodule=built.datamodule, ckpt_path=ckpt_path, weights_only=True)
        best = _best_checkpoint(trainer)
        trial = _trial(trainer)
        stopped = trial is not None and trial.state != "COMPLETE"  # pruned or failed: no test
        metrics: dict[str, Any] = _test(built, best) if cfg.test and not stopped else {}
    tracker = built.monitored
    if tracker.value is not None:
        metrics[f"best/{tracker.metric}"] = tracker.value
        metrics["best/epoch"] = tracker.epoch
    metrics.update(
        {
            "monitor": cfg.monitor.metric,
            "best_checkpoint": str(Path(best).relative_to(run_dir)) if best else None,
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "params": sum(parameter.numel() for parameter in built.model.parameters()),
            "wall_seconds": round(time.perf_counter() - started, 3),
            "seed": cfg.seed,
            "git_commit": git_commit(),
            **versions(),
        }
    )
    if trial is not None:
        metrics.update(trial.summary())
    _log_hparams(built, metrics)
    if trainer.is_global_zero:  # DDP: every rank holds the same metrics; one writes them
        write_json(run_dir / "metrics.json", metrics)
    shown = {k: v for k, v in metrics.items() if k.startswith(("test/", "best/"))}
    log.info("Finished in %.1f s: %s", metrics["wall_seconds"], _format(shown))
    log.info("Run folder: %s", run_dir)
    return metrics


def _format(metrics: dict[str, Any]) -> str:
    return "  ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
    )
