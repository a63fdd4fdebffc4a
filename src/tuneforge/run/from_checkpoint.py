"""What eval, predict, generate and export share: rebuild a trained run, or only its model,
from a checkpoint, weights loaded."""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from tuneforge.checkpoint_format import CHECKPOINT_KEY
from tuneforge.errors import CheckpointError, ConfigError
from tuneforge.run.build import Built, add_adapters, build, build_model
from tuneforge.run.checkpoints import (
    CKPT_PATH_FIX,
    checkpoint_file,
    load_weights,
    read_checkpoint,
    stored_config,
)
from tuneforge.run.confine import confined
from tuneforge.run.other_data import check_data_fits, check_unbuilt, chosen, with_data
from tuneforge.run.record import accept_run
from tuneforge.run.trust import untrusted, user_config_dirs
from tuneforge.run.validate import validate
from tuneforge.tasks.causal_lm import restore_frozen_base

TRUST_SCHEMA = {"trust_config": bool}


def trusted_config(
    checkpoint: dict[str, Any], path: Path, trust: bool, verb: DictConfig, run_dir: Path
) -> DictConfig:
    """The training config stored in the checkpoint, to rebuild from as the command `verb`
    that writes to `run_dir`: its folders moved under `run_dir`, nothing downloaded (see
    `tuneforge.run.confine`), also with trust_config=true.

    Raises:
        CheckpointError: when it names a `_target_` that neither tuneforge's configs nor the
            user's own config files name, or holds an interpolation, and the user did not pass
            trust_config=true: building it would run code that came with the file. Checked
            before anything is imported.
    """
    trained = stored_config(checkpoint)
    if not trust:
        foreign = untrusted(OmegaConf.to_container(trained), user_config_dirs())
        if foreign:
            raise CheckpointError(
                f"ckpt_path '{path}' has a config that would build {', '.join(foreign)}, which "
                "neither tuneforge's configs nor your --config-dir files name; nothing was "
                "built. If you trust where this checkpoint came from, add trust_config=true"
            )
    accept_run()  # a refused checkpoint leaves no record of a run that never was
    return confined(trained, verb, run_dir)


def trust_flag(cfg: DictConfig) -> bool:
    """The verb's `trust_config`, checked to be true or false."""
    validate(cfg, TRUST_SCHEMA)
    return cfg.trust_config


def build_from_checkpoint(
    cfg: DictConfig, run_dir: Path, splits: bool = True
) -> tuple[Built, Path]:
    """Data and model as the checkpoint's training config made them; trainer and loggers from
    this verb's config; no training callbacks (nothing is checkpointed while scoring).
    `splits=False`: only given inputs are predicted, so the training data need not be there
    (see `build`).

    Returns the built run and the checkpoint file read (`ckpt_path` may name a run folder).
    """
    trust = trust_flag(cfg)
    path = checkpoint_file(cfg.ckpt_path)
    checkpoint = read_checkpoint(path)
    trained = trusted_config(checkpoint, path, trust, cfg, run_dir)
    finetune = trained.get("finetune")
    with open_dict(trained):
        trained.trainer = cfg.trainer
        trained.logger = cfg.get("logger") or {}
        trained.callbacks = {}
        trained.compile = False  # a few batches to score: compiling would cost more than it saves
        # The checkpoint holds the trained weights: no pretrained ones to load, nothing to freeze.
        trained.finetune = {"checkpoint": None}
    other_data = cfg.get("data")  # eval data=CHOICE: score other data (run/other_data.py)
    trained = with_data(trained, other_data)
    # Lightning stores a DataModule's state_dict under its class name.
    data_class = str(trained.data._target_).rsplit(".", 1)[-1]
    state, trained_spec = checkpoint.get(data_class), checkpoint[CHECKPOINT_KEY].get("data_spec")
    try:
        built = build(trained, run_dir, data_state=state, splits=splits)
    except ConfigError:  # a model that cannot take the chosen data: say so as eval would
        if other_data is not None:
            check_unbuilt(trained_spec, trained.data, state, path)
        raise
    if other_data is not None:
        check_data_fits(trained_spec, built.datamodule.spec, path, chosen(trained.data))
    add_adapters(built.model, finetune)  # LoRA's layers, in place: the task holds this model
    load_weights(built.task, checkpoint, path)
    return built, path


def trained_model(
    checkpoint: dict[str, Any], path: Path, trust: bool, verb: DictConfig, run_dir: Path
) -> Any:
    """The model alone, sized by the data facts stored in the checkpoint, with its weights: no
    data is read, so it works where the training data is not.

    Raises:
        CheckpointError: for a checkpoint without data facts, weights that do not fit, or a
            config naming code outside the trusted packages (see `trusted_config`).
    """
    trained = trusted_config(checkpoint, path, trust, verb, run_dir)
    spec = checkpoint[CHECKPOINT_KEY].get("data_spec")
    if spec is None:
        raise CheckpointError(
            f"ckpt_path '{path}' holds no data facts to size the model (written by an older "
            f"tuneforge); {CKPT_PATH_FIX}"
        )
    model = build_model(trained.model, spec)
    add_adapters(model, trained.get("finetune"))
    restore_frozen_base(checkpoint, model, "model.", str(path))  # adapters alone: add the base
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
            f"ckpt_path '{path}' does not fit the model built from its own config ({first}); "
            f"{CKPT_PATH_FIX}"
        ) from ex
    return model


def _stored_data_state(checkpoint: dict[str, Any], key: str) -> Any:
    """`key` of the DataModule's state stored in the checkpoint (Lightning keeps it under the
    DataModule's class name), or None."""
    data_class = str(stored_config(checkpoint).data._target_).rsplit(".", 1)[-1]
    state = checkpoint.get(data_class)
    return state.get(key) if isinstance(state, dict) else None


def stored_tokenizer(checkpoint: dict[str, Any]) -> str | None:
    """The tokenizer JSON a text DataModule stored in the checkpoint, or None for other data."""
    return _stored_data_state(checkpoint, "tokenizer")


def stored_chat_template(checkpoint: dict[str, Any]) -> str | None:
    """The chat template chat data trained with, or None for other data."""
    template = _stored_data_state(checkpoint, "chat_template")
    return template if isinstance(template, str) else None
