"""Checking a DataModule's constructor arguments against a table of rules, one line per refusal."""

from collections.abc import Callable
from typing import Any

# argument name -> (check, what is allowed, for the message)
ArgumentRules = dict[str, tuple[Callable[[Any], bool], str]]


def check_arguments(rules: ArgumentRules, arguments: dict[str, Any]) -> None:
    """Raises ValueError naming the first argument that breaks its rule, its value, and the fix."""
    for name, (ok, allowed) in rules.items():
        if not ok(arguments[name]):
            raise ValueError(f"{name}={arguments[name]!r} is not allowed; it must be {allowed}")
