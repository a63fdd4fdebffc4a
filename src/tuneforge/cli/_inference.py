"""What eval and predict share: rebuild a trained run from its checkpoint, weights loaded."""

from pathlib import Path

from omegaconf import DictConfig, open_dict

from tuneforge.cli._checkpoint import checkpoint_file, load_weights, read_checkpoint, stored_config
from tuneforge.cli.build import Built, build
from tuneforge.cli.validate import validate


def build_from_checkpoint(cfg: DictConfig, run_dir: Path) -> tuple[Built, Path]:
    """Data and model as the checkpoint's training config made them; trainer and loggers from
    this verb's config; no training callbacks (nothing is checkpointed while scoring).

    Returns the built run and the checkpoint file read (`ckpt_path` may name a run folder).
    """
    validate(cfg)
    path = checkpoint_file(cfg.ckpt_path)
    checkpoint = read_checkpoint(path)
    trained = stored_config(checkpoint)
    with open_dict(trained):
        trained.trainer = cfg.trainer
        trained.logger = cfg.get("logger") or {}
        trained.callbacks = {}
        # The checkpoint holds the trained weights: no pretrained ones to load, nothing to freeze.
        trained.finetune = {"checkpoint": None}
    # Lightning stores a DataModule's state_dict under its class name.
    data_class = str(trained.data._target_).rsplit(".", 1)[-1]
    built = build(trained, run_dir, data_state=checkpoint.get(data_class))
    load_weights(built.task, checkpoint, path)
    return built, path
