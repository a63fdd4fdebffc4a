"""What cleaning did to the data, in TensorBoard's Text tab beside the run it explains."""

import io
import json
from typing import Any, Protocol, runtime_checkable

import lightning as L

from tuneforge.callbacks._base import Callback
from tuneforge.callbacks._tensorboard import tensorboard_writer


@runtime_checkable
class ReportsCleaning(Protocol):
    """A DataModule that says what its cleaning did (the table and text DataModules)."""

    report: dict

    def report_table(self) -> Any: ...


def _code_block(text: str) -> str:
    """Text TensorBoard's Markdown shows as written: columns aligned, line breaks kept."""
    return "    " + text.rstrip().replace("\n", "\n    ")


class DataReport(Callback):
    """At the start of a fresh run, `data/cleaning`: the per-column table the terminal shows
    (kinds, missing cells and what filled them, outliers clipped or dropped), then the whole
    report (rows dropped and why, class counts) as JSON. A DataModule without a cleaning report
    (images, a language model's text) is left alone.

    Args:
        width: characters the table may take before its columns wrap.
    """

    def __init__(self, width: int = 120) -> None:
        self.width = width

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard_writer(trainer)
        datamodule = trainer.datamodule
        if writer is None or trainer.global_step > 0 or not isinstance(datamodule, ReportsCleaning):
            return
        from rich.console import Console

        console = Console(file=io.StringIO(), width=self.width, record=True, color_system=None)
        console.print(datamodule.report_table())
        table = _code_block(console.export_text())
        report = _code_block(json.dumps(datamodule.report, indent=2))
        writer.add_text("data/cleaning", f"{table}\n\n{report}", 0)
