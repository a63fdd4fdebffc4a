"""What a checkpoint stores beside its weights, checked as data before anything uses it.

`weights_only=True` keeps code out of a checkpoint, not nonsense: its data facts size the model,
its tokenizer encodes prompts, its class names label predictions, its random states seed the
resumed run. Each is checked here for type and size, and for fitting the others (the tokenizer's
ids must index the model's embedding), so that a damaged or forged file is refused in one line
that names what is wrong, instead of failing somewhere inside torch.
"""

from collections.abc import Callable
from typing import Any

from tuneforge.checkpoint_format import CHECKPOINT_KEY

LARGEST_INPUT = 2**28  # values in one input (a 16k x 16k RGB image): a forged shape stops here
LARGEST_VOCAB = 2**31
LARGEST_LENGTH = 2**24  # tokens in one row
LARGEST_CLASSES = 2**24


class StoredDataError(ValueError):
    """One thing a checkpoint stores is not what tuneforge writes; the message names it."""


def _count(value: Any, largest: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= largest


def _shape(value: Any) -> bool:
    if not isinstance(value, list | tuple) or not 1 <= len(value) <= 4:
        return False
    if not all(_count(size, LARGEST_INPUT) for size in value):
        return False
    import math

    return math.prod(value) <= LARGEST_INPUT


def _names(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(n, str | int) for n in value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# data_spec key -> (is it valid, what it must be)
SPEC_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "input_shape": (_shape, f"1 to 4 positive sizes of at most {LARGEST_INPUT:,} values"),
    "num_classes": (lambda v: _count(v, LARGEST_CLASSES), "a positive integer"),
    "num_outputs": (lambda v: _count(v, LARGEST_CLASSES), "a positive integer"),
    "vocab_size": (lambda v: _count(v, LARGEST_VOCAB), "a positive integer"),
    "block_size": (lambda v: _count(v, LARGEST_LENGTH), "a positive integer"),
    "max_length": (lambda v: _count(v, LARGEST_LENGTH), "a positive integer"),
    "pad_id": (_id, "an id >= 0"),
    "eos_id": (_id, "an id >= 0"),
    "class_names": (_names, "a list of names"),
    "task": (lambda v: isinstance(v, str), "a name"),
    "chars_per_token": (_number, "a number"),
    "target_mean": (_number, "a number"),
    "target_std": (_number, "a number"),
}


def _check_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        raise StoredDataError(f"its data facts are a {type(spec).__name__}, not a mapping")
    for key, value in spec.items():
        rule = SPEC_RULES.get(key)
        if rule is not None and not rule[0](value):
            raise StoredDataError(f"data_spec.{key}={_shown(value)} is not {rule[1]}")
    names, classes = spec.get("class_names"), spec.get("num_classes")
    if names is not None and classes is not None and len(names) != classes:
        raise StoredDataError(f"data_spec names {len(names)} classes but num_classes={classes}")
    vocab = spec.get("vocab_size")
    for key in ("pad_id", "eos_id"):
        token = spec.get(key)
        if vocab is not None and token is not None and token >= vocab:
            raise StoredDataError(f"data_spec.{key}={token} is outside the vocabulary of {vocab}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_data_state(state: Any, spec: dict[str, Any]) -> None:
    """The DataModule's fitted state: a mapping; its tokenizer readable, within the model's
    vocabulary and holding its end-of-document id; its class names as many as the model's
    classes."""
    if not isinstance(state, dict):
        raise StoredDataError(f"its data state is a {type(state).__name__}, not a mapping")
    if "tokenizer" in state:
        tokenizer_vocab = checked_tokenizer(state["tokenizer"]).vocab_size
        vocab = spec.get("vocab_size")
        if vocab is not None and tokenizer_vocab > vocab:
            raise StoredDataError(
                f"its tokenizer has {tokenizer_vocab} tokens but the model's vocabulary only "
                f"{vocab}: the tokenizer is not the one the model was trained with"
            )
        eos = spec.get("eos_id")
        if eos is not None and eos >= tokenizer_vocab:
            raise StoredDataError(
                f"data_spec.eos_id={eos} is outside its tokenizer's {tokenizer_vocab} tokens"
            )
    if "class_names" in state:
        names, classes = state["class_names"], spec.get("num_classes")
        if not _names(names) or (classes is not None and len(names) != classes):
            raise StoredDataError(
                f"its data state's class_names ({_shown(names)}) are not {classes} names"
            )


def checked_tokenizer(tokenizer_json: Any) -> Any:
    """The tokenizer a stored JSON string describes.

    Raises:
        StoredDataError: when it is not a string, or not a tokenizer that tuneforge or the
            `tokenizers` library reads.
    """
    from tuneforge.data.tokenizers import tokenizer_from_json

    if not isinstance(tokenizer_json, str):
        raise StoredDataError(f"its tokenizer is a {type(tokenizer_json).__name__}, not JSON text")
    try:
        return tokenizer_from_json(tokenizer_json)
    except Exception as ex:  # json's and the tokenizers library's errors alike
        reason = str(ex).splitlines()[0][:80] if str(ex) else type(ex).__name__
        raise StoredDataError(f"its tokenizer cannot be read ({reason})") from ex


def _check_random_states(callbacks: Any) -> None:
    """ResumeState's random states, which a resumed run hands to random, NumPy and torch."""
    import torch

    state = callbacks.get("ResumeState") if isinstance(callbacks, dict) else None
    if state is None:
        return
    states = state.get("random") if isinstance(state, dict) else None
    python = states.get("python") if isinstance(states, dict) else None
    numpy = states.get("numpy") if isinstance(states, dict) else None
    torch_state = states.get("torch") if isinstance(states, dict) else None
    fine = (
        isinstance(python, list | tuple)
        and len(python) == 3
        and isinstance(python[1], list | tuple)
        and len(python[1]) == 625
        and isinstance(numpy, list | tuple)
        and len(numpy) == 5
        and torch.is_tensor(numpy[1])
        and numpy[1].numel() == 624
        and torch.is_tensor(torch_state)
        and torch_state.dtype == torch.uint8
    )
    if not fine:
        raise StoredDataError("its saved random states are not Python's, NumPy's and torch's")


def check_stored_data(checkpoint: dict[str, Any]) -> None:
    """Refuse a checkpoint whose stored config, data facts, data state, weights or random
    states are not of the types and sizes that `tuneforge train` writes.

    Raises:
        StoredDataError: naming the first thing that is wrong.
    """
    import torch  # here: `--help` imports this module's readers, and must not pay for torch

    stored = checkpoint[CHECKPOINT_KEY]
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise StoredDataError("its tuneforge section holds no config mapping")
    config = stored["config"]
    for group in ("data", "model"):
        node = config.get(group)
        if not isinstance(node, dict) or not isinstance(node.get("_target_"), str):
            raise StoredDataError(f"its config has no {group} component")
    weights = checkpoint["state_dict"]
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and torch.is_tensor(v) for k, v in weights.items()
    ):
        raise StoredDataError("its state_dict is not a mapping of names to tensors")
    spec = stored.get("data_spec")
    if spec is not None:
        _check_spec(spec)
    data_class = config["data"]["_target_"].rsplit(".", 1)[-1]
    if data_class in checkpoint:
        _check_data_state(checkpoint[data_class], spec or {})
    _check_random_states(checkpoint.get("callbacks"))
