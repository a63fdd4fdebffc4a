"""What eval, predict, generate and export share: rebuild a trained run, or only its model,
from a checkpoint, weights loaded."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from tuneforge.checkpoint_keys import CHECKPOINT_KEY
from tuneforge.cli._checkpoint import (
    FIX,
    checkpoint_file,
    load_weights,
    read_checkpoint,
    stored_config,
)
from tuneforge.cli.build import Built, add_adapters, build, build_model
from tuneforge.cli.errors import CheckpointError
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
    finetune = trained.get("finetune")
    with open_dict(trained):
        trained.trainer = cfg.trainer
        trained.logger = cfg.get("logger") or {}
        trained.callbacks = {}
        # The checkpoint holds the trained weights: no pretrained ones to load, nothing to freeze.
        trained.finetune = {"checkpoint": None}
    # Lightning stores a DataModule's state_dict under its class name.
    data_class = str(trained.data._target_).rsplit(".", 1)[-1]
    built = build(trained, run_dir, data_state=checkpoint.get(data_class))
    add_adapters(built.model, finetune)  # LoRA's layers, in place: the task holds this model
    load_weights(built.task, checkpoint, path)
    return built, path


def trained_model(checkpoint: dict[str, Any], path: Path) -> Any:
    """The model alone, sized by the data facts stored in the checkpoint, with its weights: no
    data is read, so it works where the training data is not.

    Raises:
        CheckpointError: for a checkpoint without data facts, or weights that do not fit.
    """
    trained = stored_config(checkpoint)
    spec = checkpoint[CHECKPOINT_KEY].get("data_spec")
    if spec is None:
        raise CheckpointError(
            f"ckpt_path '{path}' holds no data facts to size the model (written by an older "
            f"tuneforge); {FIX}"
        )
    model = build_model(trained.model, spec)
    add_adapters(model, trained.get("finetune"))
    weights = {
        key.removeprefix("model."): value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith("model.")
    }
    try:
        model.load_state_dict(weights)
    except RuntimeError as ex:
        first = str(ex).splitlines()[0]
        raise CheckpointError(
            f"ckpt_path '{path}' does not fit the model built from its own config ({first}); {FIX}"
        ) from ex
    return model


def stored_tokenizer(checkpoint: dict[str, Any]) -> str | None:
    """The tokenizer JSON a text DataModule stored in the checkpoint (Lightning keeps a
    DataModule's state under its class name), or None for other data."""
    data_class = str(stored_config(checkpoint).data._target_).rsplit(".", 1)[-1]
    state = checkpoint.get(data_class)
    return state.get("tokenizer") if isinstance(state, dict) else None
