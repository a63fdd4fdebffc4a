"""`tuneforge predict ckpt_path=PATH [predict.input=FILE]`: write predictions.csv."""

import logging
from pathlib import Path

from omegaconf import DictConfig

from tuneforge.atomic_files import write_atomic
from tuneforge.errors import ConfigError, DataError
from tuneforge.run.from_checkpoint import build_from_checkpoint

log = logging.getLogger(__name__)


def input_loader(datamodule, path: str):
    """A loader over the inputs in `path`, read the way the data module reads them."""
    if not hasattr(datamodule, "read_inputs"):
        raise ConfigError(
            f"predict.input: {type(datamodule).__name__} cannot read input files; "
            "leave predict.input unset to predict the test split"
        )
    try:
        return datamodule.read_inputs(path)
    except (FileNotFoundError, ValueError) as ex:
        raise DataError(str(ex)) from ex


def run(cfg: DictConfig, run_dir: Path) -> Path:
    import pandas as pd
    import torch

    built, _ = build_from_checkpoint(cfg, run_dir)
    datamodule = built.datamodule
    if cfg.predict.input:
        loader, targets = input_loader(datamodule, cfg.predict.input), None
    else:
        loader, targets = datamodule.predict_dataloader(), datamodule.labels("test")
    batches = built.trainer.predict(built.task, dataloaders=loader)
    columns = built.task.prediction_columns(torch.cat(batches))
    frame = pd.DataFrame({name: values.numpy() for name, values in columns.items()})
    frame.insert(0, "index", range(len(frame)))
    files = getattr(loader.dataset, "files", None)  # inputs read from files: say which is which
    if files is not None:
        frame.insert(1, "file", [str(f) for f in files])
    names = getattr(datamodule, "class_names", None)
    if names and "probability" in frame:
        frame["label"] = [names[i] for i in frame["prediction"]]
    if targets is not None:
        frame["target"] = targets.reshape(len(frame), -1)[:, 0].numpy()
    out = run_dir / "predictions.csv"
    write_atomic(out, lambda handle: frame.to_csv(handle, index=False, float_format="%.6f"))
    log.info("%d predictions written to %s", len(frame), out)
    return out
