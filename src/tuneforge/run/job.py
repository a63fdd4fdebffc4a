"""One verb's run in its folder, as the command and `tuneforge.api` both start it.

A run's record (`.hydra/`, its log file) waits until the verb says the run goes ahead
(run/record.py); the folder's symbolic links and every `???` left are refused before a verb
builds anything. How a failure is shown is the caller's: the command prints lines and exits, the
API raises.
"""

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from tuneforge.run.record import RunRecord, holding
from tuneforge.run.validate import check_required


class Job:
    """A verb's `run(cfg, run_dir)` in `run_dir`, with its record.

    Args:
        run_dir: the run folder, which exists.
        cfg: the verb's composed config.
        hydra_cfg: `{"hydra": ...}` for the record's hydra.yaml and overrides.yaml.
        accepts: whether the verb itself says when its run goes ahead (`accept_run`); the
            others' runs go ahead as they start.
    """

    def __init__(self, run_dir: Path, cfg: Any, hydra_cfg: Any, accepts: bool) -> None:
        self.run_dir, self.cfg, self.accepts = run_dir, cfg, accepts
        self.record = RunRecord(run_dir, cfg, hydra_cfg)

    def run(
        self,
        run: Callable[[Any, Path], Any],
        around: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    ) -> Any:
        """What `run(cfg, run_dir)` returns, called inside `around()` once the checks pass.

        Raises:
            ConfigError: naming every `???` left, before the verb builds anything.
            OutputError: when a file of the record is a symbolic link.
        """
        holding(self.record)
        try:
            self.record.refuse_links()
            check_required(self.cfg)
            if not self.accepts:
                self.record.accept()
            with around():
                returned = run(self.cfg, self.run_dir)
            self.record.accept()
            return returned
        finally:
            holding(None)

    def failed(self, refused: bool) -> None:
        """After `run` raised: a run `refused` before it went ahead leaves its folder as it
        found it; any other failure (a bug) keeps why in its record."""
        if refused and not self.record.accepted:
            self.record.discard()
        else:
            self.record.accept()

    @property
    def started(self) -> bool:
        """Whether the run went ahead (its record is written)."""
        return self.record.accepted
