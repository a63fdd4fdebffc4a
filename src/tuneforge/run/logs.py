"""Logging under Hydra: one handler for every library, no advertisements."""

import logging
import warnings


class _DropTips(logging.Filter):
    """Lightning's advertisements ('Tip: try installing ...') are not about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in str(record.msg)


class _FileOnly(logging.Filter):
    """Lightning's device summary ('GPU available: False, used: False') is kept in the run's log
    file, off the terminal, where it would stand between a user and an error line."""

    PREFIXES = ("GPU available", "TPU available", "HPU available", "LOCAL_RANK")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.PREFIXES)


def route_library_logs() -> None:
    """Send Lightning's and torchmetrics' messages through the root logger only.

    Lightning adds its own console handler when imported, so under Hydra (which configures the
    root logger: console and the run's log file) every line would print twice.
    """
    # Lightning's own use of a deprecated torch API; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # Said wherever srun exists; tuneforge runs on SLURM through hydra/launcher=submitit_slurm.
    warnings.filterwarnings("ignore", message=r"The `srun` command is available on your system")
    if not logging.getLogger().handlers:
        return  # nobody configured logging (a notebook): keep the libraries' own handlers
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "torchmetrics"):
        library_log = logging.getLogger(name)
        library_log.handlers.clear()
        library_log.propagate = True
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropTips) for f in rank_zero.filters):
        rank_zero.addFilter(_DropTips())
    for handler in logging.getLogger().handlers:
        # not a log file, nor what holds a log file's lines until the run goes ahead (_record)
        on_terminal = isinstance(handler, logging.StreamHandler)
        on_terminal = on_terminal and not isinstance(handler, logging.FileHandler)
        if on_terminal and not any(isinstance(f, _FileOnly) for f in handler.filters):
            handler.addFilter(_FileOnly())
