"""`tuneforge eval ckpt_path=X data=CHOICE`: score a trained model on data other than its own.

Model, task and weights come from the checkpoint; the data the command chose replaces the data
of the checkpoint's config (`+data.KEY=VALUE` alone changes one key of the checkpoint's own).
The new data must size the model as the training data did (its task, input shape, classes,
vocabulary): otherwise the weights would not fit, and the user is told which facts differ
rather than which tensors.
"""

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from tuneforge.errors import DataError

# The data facts that decide the model's shape and what its outputs mean.
SIZING = (
    "task",
    "input_shape",
    "num_classes",
    "num_outputs",
    "vocab_size",
    "block_size",
    "max_length",
    "pad_id",
)


def with_data(trained: DictConfig, data: DictConfig | None) -> DictConfig:
    """`trained` (changed in place) with the command's `data` in place of its own: a whole data
    config (`data=CHOICE`) replaces it, keys alone (`+data.batch_size=256`) are merged into it.
    Resolved in the command's own config, where its interpolations (`${paths.data_dir}`) point.
    """
    if data is None:
        return trained
    chosen = OmegaConf.to_container(data, resolve=True)
    with open_dict(trained):
        trained.data = chosen if "_target_" in chosen else OmegaConf.merge(trained.data, chosen)
    return trained


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def check_data_fits(trained_spec: dict[str, Any] | None, spec: dict[str, Any], path: Path) -> None:
    """Refuse data whose facts (`spec`) size the model differently from the data the checkpoint
    at `path` was trained on (`trained_spec`, as stored in it).

    Raises:
        DataError: naming each fact that differs, with both values.
    """
    trained_spec = trained_spec or {}
    differ = [
        key
        for key in SIZING
        if key in trained_spec and _shown(spec.get(key)) != _shown(trained_spec[key])
    ]
    if differ:
        theirs = ", ".join(f"{key}={_shown(spec.get(key))}" for key in differ)
        ours = ", ".join(f"{key}={_shown(trained_spec[key])}" for key in differ)
        raise DataError(
            f"the data chosen does not fit the model of ckpt_path '{path}': it has {theirs}, the "
            f"model was trained on {ours}; choose data of the same inputs and classes"
        )
