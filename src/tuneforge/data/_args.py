"""Checking a DataModule's constructor arguments against a table of rules, one line per refusal."""

import os
from collections.abc import Callable
from typing import Any, Literal

# argument name -> (check, what is allowed, for the message)
ArgumentRules = dict[str, tuple[Callable[[Any], bool], str]]

# `num_workers: auto` starts one loader worker per core this process may run on, at most this many.
MAX_AUTO_WORKERS = 8
Workers = int | Literal["auto"]


def is_int(value: Any) -> bool:
    """An integer, and not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_positive_int(value: Any) -> bool:
    return is_int(value) and value > 0


# A count that must be at least 1 (a batch size, a length), as a rule.
POSITIVE_RULE = (is_positive_int, "a positive integer")
# The rule every DataModule's `num_workers` follows.
WORKERS_RULE = (
    lambda v: v == "auto" or (is_int(v) and v >= 0),
    f"an integer >= 0, or auto (one per core, at most {MAX_AUTO_WORKERS})",
)


def worker_count(workers: Workers) -> int:
    """Loader worker processes for a `num_workers` setting: `auto` is one per usable core."""
    if workers != "auto":
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, MAX_AUTO_WORKERS)


def check_arguments(rules: ArgumentRules, arguments: dict[str, Any]) -> None:
    """Raises ValueError naming the first argument that breaks its rule, its value, and the fix."""
    for name, (ok, allowed) in rules.items():
        if not ok(arguments[name]):
            raise ValueError(f"{name}={arguments[name]!r} is not allowed; it must be {allowed}")
