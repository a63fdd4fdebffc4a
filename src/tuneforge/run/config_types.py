"""Does a config value fit a Python annotation? Only what a YAML value can be is checked.

Config values are None, bool, int, float, str, lists and dicts. Annotations that name other
classes (torch.device, a Callable, ...) cannot be judged from such a value and are accepted.
"""

import collections.abc
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable)
_MAPPINGS = (dict, collections.abc.Mapping)


def is_target_node(value: Any) -> bool:
    return isinstance(value, dict) and "_target_" in value


def conforms(value: Any, annotation: Any) -> bool:
    """Whether `value`, as read from a config, is acceptable for `annotation`."""
    if annotation is Any or isinstance(annotation, (str, typing.TypeVar)):
        return True  # unknown, or a forward reference that did not resolve
    if annotation is None:
        annotation = type(None)
    if is_target_node(value):
        return True  # an object the config builds; its own arguments are checked on their own
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(conforms(value, arg) for arg in get_args(annotation))
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    container = origin or annotation
    args = get_args(annotation)
    if container is tuple and args and args[-1] is not Ellipsis:  # tuple[float, float]: fixed size
        return isinstance(value, (list, tuple)) and len(value) == len(args)
    if container in _SEQUENCES:
        return isinstance(value, (list, tuple)) or (
            isinstance(value, str) and container in (collections.abc.Sequence,)
        )
    if container in _MAPPINGS:
        return isinstance(value, dict)
    return True


def describe(annotation: Any) -> str:
    """A reader's name for what an annotation accepts: 'an integer or null'."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        # Literals inside a union read as one list of choices: "one of 32, '16-mixed' or null".
        choices = [
            c for arg in get_args(annotation) if get_origin(arg) is Literal for c in get_args(arg)
        ]
        parts = ["one of " + ", ".join(repr(c) for c in choices)] if choices else []
        for arg in get_args(annotation):
            part = describe(arg)
            if get_origin(arg) is not Literal and part not in parts:
                parts.append(part)
        return " or ".join(parts)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in get_args(annotation))
    names = {
        type(None): "null",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
    }
    if annotation in names:
        return names[annotation]
    container = origin or annotation
    args = get_args(annotation)
    if container is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} values"
    if container in _SEQUENCES:
        return "a list"
    if container in _MAPPINGS:
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))
