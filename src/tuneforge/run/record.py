"""A run's record, `.hydra/` and its log file, written only once the run goes ahead.

Hydra writes `.hydra/config.yaml`, `overrides.yaml` and `hydra.yaml` and opens the log file as a
job starts, before tuneforge knows whether the run may go ahead: a `tuneforge train` refused a
folder that a live run holds, or refused `resume=auto`, would leave its own config as the live
run's record. So Hydra writes none of it (conf/hydra/default.yaml: `output_subdir: null`, the log
file's handler `delay: true`) and `RunRecord` does: it holds the job's log lines from the start,
and when the verb says the run goes ahead (`accept`), it writes the three files atomically and
opens the log file, refusing a symbolic link at any of them, then hands the held lines to it.
A run refused before that leaves its folder as it found it.
"""

import copy
import errno
import logging
import os
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf, read_write

from tuneforge.atomic_files import write_atomic
from tuneforge.errors import OutputError
from tuneforge.run.files import open_to_append
from tuneforge.run.lock import first_process

RECORD = ".hydra"  # the folder name Hydra gives it, which reporting/ reads
FILES = ("config.yaml", "overrides.yaml", "hydra.yaml")


class _Held(logging.Handler):
    """Keeps the job's log records until its log file may be opened."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _link_refusal(run_dir: Path, path: Path) -> OutputError:
    return OutputError(
        f"run folder '{run_dir}' has a symbolic link at {path.relative_to(run_dir)} (to "
        f"'{os.readlink(path)}'), and tuneforge never writes a run's files through a link; "
        "remove the link, or choose another folder with hydra.run.dir=DIR"
    )


class RunRecord:
    """What Hydra would have written for the running job, held until `accept()`.

    Args:
        run_dir: the job's run folder, which Hydra (or `tuneforge.api`) made.
        cfg: the job's config, as the task function received it.
        hydra_cfg: `{"hydra": ...}`, as Hydra saves it: the running job's, or what
            `compose(..., return_hydra_config=True)` gave `tuneforge.api`.
    """

    def __init__(self, run_dir: Path, cfg: Any, hydra_cfg: Any) -> None:
        self.run_dir = run_dir
        self.fresh = not any(run_dir.iterdir())  # Hydra made it for this job
        self.accepted = False
        hydra_cfg = copy.deepcopy(hydra_cfg)
        with read_write(hydra_cfg.hydra):
            hydra_cfg.hydra.output_subdir = RECORD  # where its files are, as Hydra would say
        self._texts = {  # now: a verb may change its config as it runs
            "config.yaml": OmegaConf.to_yaml(cfg),
            "overrides.yaml": OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task),
            "hydra.yaml": OmegaConf.to_yaml(hydra_cfg),
        }
        root = logging.getLogger()
        self._log_files = [h for h in root.handlers if self._in_folder(h)]
        for handler in self._log_files:
            root.removeHandler(handler)
        self._held = _Held()
        root.addHandler(self._held)

    def _in_folder(self, handler: logging.Handler) -> bool:
        if not isinstance(handler, logging.FileHandler):
            return False
        return Path(handler.baseFilename).parent == self.run_dir.absolute()

    def _paths(self) -> list[Path]:
        record = self.run_dir / RECORD
        logs = [Path(h.baseFilename) for h in self._log_files]
        return [record, *(record / name for name in FILES), *logs]

    def refuse_links(self) -> None:
        """Refuse the run now if a file it would write is a symbolic link.

        Raises:
            OutputError: naming the link.
        """
        for path in self._paths():
            if path.is_symlink():
                raise _link_refusal(self.run_dir, path)

    def accept(self) -> None:
        """The run goes ahead: write `.hydra/` (the first process of a distributed run does) and
        open the log files, with what was logged until now. Once only.

        Raises:
            OutputError: when one of them is a symbolic link.
        """
        if self.accepted:
            return
        self.refuse_links()
        if first_process():
            for name, text in self._texts.items():
                write_atomic(self.run_dir / RECORD / name, lambda handle, t=text: handle.write(t))
        root = logging.getLogger()
        for handler in self._log_files:
            try:
                stream = open_to_append(Path(handler.baseFilename), handler.encoding)
            except OSError as ex:
                if ex.errno == errno.ELOOP:  # made a link since refuse_links looked
                    raise _link_refusal(self.run_dir, Path(handler.baseFilename)) from ex
                raise
            if handler.stream is not None:  # a handler configured without `delay`
                handler.stream.close()
            handler.stream = stream
            root.addHandler(handler)
            for record in self._held.records:
                if record.levelno >= handler.level:
                    handler.handle(record)
        self._stop_holding()
        self.accepted = True

    def discard(self) -> None:
        """The run was refused: drop what was logged, and open no log file."""
        for handler in self._log_files:
            handler.close()
        self._log_files = []
        self._stop_holding()

    def _stop_holding(self) -> None:
        logging.getLogger().removeHandler(self._held)
        self._held.records = []


_CURRENT: list[RunRecord] = []  # the running job's, set by `holding`


def holding(record: RunRecord | None) -> None:
    """Make `record` the one `accept_run` accepts (None: no job is running)."""
    _CURRENT[:] = [record] if record is not None else []


def accept_run() -> None:
    """Say that the running job goes ahead (`RunRecord.accept`); nothing outside a Hydra job.

    Raises:
        OutputError: when a file of its record is a symbolic link.
    """
    for record in _CURRENT:
        record.accept()
