"""`tuneforge eval ckpt_path=X data=CHOICE`: score a trained model on data other than its own.

Model, task and weights come from the checkpoint; the data the command chose replaces the data
of the checkpoint's config (`+data.KEY=VALUE` alone changes one key of the checkpoint's own).
The new data must be of the kind the model was trained on (images, text, a table) and size it
as the training data did (its task, input shape, classes, vocabulary): otherwise the model could
not be built or its weights would not fit, and the user is told which kinds or facts differ
rather than which model argument or tensors.
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


def chosen(data: DictConfig) -> str:
    """`data=CHOICE` as the command chose it, for its error lines: the data class's name where
    no Hydra job composed the command (tests, `tuneforge.api`)."""
    from hydra.core.hydra_config import HydraConfig

    choice = HydraConfig.get().runtime.choices.get("data") if HydraConfig.initialized() else None
    return f"data={choice or str(data._target_).rsplit('.', 1)[-1]}"


def _kind(spec: dict[str, Any]) -> str:
    """What a model reads from this data: its kind decides which models can take it at all."""
    if "block_size" in spec:
        return "text"
    if "max_length" in spec:
        return "labelled text"
    if "input_shape" in spec:
        return "a table" if len(spec["input_shape"]) == 1 else "images"
    return "data"


def _described(spec: dict[str, Any]) -> str:
    """`images (1x8x8, 10 classes)`: the kind and the facts that size a model for it."""
    kind, facts = _kind(spec), []
    if kind == "images":
        facts.append("x".join(str(size) for size in spec["input_shape"]))
    elif kind == "a table":
        columns = spec["input_shape"][0]
        facts.append(f"{columns} input column{'' if columns == 1 else 's'}")
    if "vocab_size" in spec:
        facts.append(f"a vocabulary of {spec['vocab_size']}")
    if "num_classes" in spec:
        facts.append(f"{spec['num_classes']} classes")
    elif spec.get("task") == "regression":
        facts.append("a number to predict")
    return f"{kind} ({', '.join(facts)})" if facts else kind


def check_data_fits(
    trained_spec: dict[str, Any] | None, spec: dict[str, Any], path: Path, choice: str
) -> None:
    """Refuse data whose facts (`spec`) size the model differently from the data the checkpoint
    at `path` was trained on (`trained_spec`, as stored in it). `choice` names the data as the
    command chose it (`data=digits`).

    Raises:
        DataError: for data of another kind (text for an image model), naming both kinds;
            otherwise naming each fact that differs, with both values.
    """
    if not trained_spec:
        return
    if _kind(spec) != _kind(trained_spec):
        raise DataError(
            f"eval {choice} gives {_described(spec)}, but the model of ckpt_path '{path}' was "
            f"trained on {_described(trained_spec)}; choose data of the same kind"
        )
    differ = [
        key
        for key in SIZING
        if key in trained_spec and _shown(spec.get(key)) != _shown(trained_spec[key])
    ]
    if differ:
        theirs = ", ".join(f"{key}={_shown(spec.get(key))}" for key in differ)
        ours = ", ".join(f"{key}={_shown(trained_spec[key])}" for key in differ)
        raise DataError(
            f"eval {choice} does not fit the model of ckpt_path '{path}': it has {theirs}, the "
            f"model was trained on {ours}; choose data of the same inputs and classes"
        )


def check_unbuilt(
    trained_spec: dict[str, Any] | None, data: DictConfig, state: dict | None, path: Path
) -> None:
    """Where the checkpoint's model could not be built on the chosen `data` (an image model
    needs an input shape that text has not), refuse the data as `check_data_fits` does, from
    its facts read again: build() keeps no DataModule when it raises.

    Raises:
        DataError: when the data does not fit the model; nothing when it does, or when its
            facts cannot be read, so that build()'s own error is the one shown.
    """
    from hydra.utils import instantiate

    try:
        datamodule = instantiate(data, _convert_="all")
        if state is not None:
            datamodule.load_state_dict(state)
        datamodule.prepare_data()
        datamodule.setup("fit")
        spec = datamodule.spec
    except Exception:  # the data cannot be read either: build()'s error says more than this
        return
    check_data_fits(trained_spec, spec, path, chosen(data))
