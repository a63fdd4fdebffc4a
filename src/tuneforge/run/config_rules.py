"""Values no run can use, by argument name, whichever component takes them.

A rule names what is allowed, so the error line can say the fix. Numbers only: a null or a
string is judged by the type check, not here.
"""

from collections.abc import Callable
from dataclasses import dataclass

from tuneforge.finetune.lora_bounds import LORA_BOUNDS


@dataclass(frozen=True)
class Rule:
    allowed: str
    check: Callable[[float], bool]


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


def _fraction(v: float) -> bool:
    return 0 <= v < 1


def _limit(v: float) -> bool:
    return v == -1 or v >= 1


RULES: dict[str, Rule] = {
    "lr": Rule("a number > 0, such as 1e-3", _positive),
    "ema": Rule("a number in (0, 1), such as 0.999, or null for no average", lambda v: 0 < v < 1),
    "batch_size": Rule("an integer >= 1", lambda v: v >= 1),
    "max_epochs": Rule("an integer >= 1, or -1 for no limit", _limit),
    "max_steps": Rule("an integer >= 1, or -1 for no limit", _limit),
    "weight_decay": Rule("a number >= 0", _non_negative),
    "momentum": Rule("a number in [0, 1)", _fraction),
    "dropout": Rule("a number in [0, 1)", _fraction),
    "label_smoothing": Rule("a number in [0, 1)", _fraction),
    "val_fraction": Rule("a number in (0, 1)", lambda v: 0 < v < 1),
    "test_fraction": Rule("a number in [0, 1)", _fraction),
    "train_size": Rule("an integer >= 1, or null for every training image", lambda v: v >= 1),
    "warmup_fraction": Rule("a number in [0, 1)", _fraction),
    "warmup_steps": Rule("an integer >= 0", _non_negative),
    "min_lr_ratio": Rule("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "num_workers": Rule("an integer >= 0, or auto (one per core)", _non_negative),
    "width": Rule("an integer >= 1", lambda v: v >= 1),
    "depth": Rule("an integer >= 0", _non_negative),
    "accumulate_grad_batches": Rule("an integer >= 1", lambda v: v >= 1),
    "gradient_clip_val": Rule("a number >= 0", _non_negative),
    "log_every_n_steps": Rule("an integer >= 1", lambda v: v >= 1),
    "mixup_alpha": Rule("a number >= 0 (0: off)", _non_negative),
    "cutmix_alpha": Rule("a number >= 0 (0: off)", _non_negative),
    "n_layer": Rule("an integer >= 1", lambda v: v >= 1),
    "n_head": Rule("an integer >= 1", lambda v: v >= 1),
    "n_embd": Rule("an integer >= 1", lambda v: v >= 1),
    "max_new_tokens": Rule("an integer >= 1", lambda v: v >= 1),
    "temperature": Rule(
        "a number >= 0 (0: greedy; below 1: surer, above 1: wilder)", _non_negative
    ),
    "top_k": Rule("an integer >= 1, or null for no cut", lambda v: v >= 1),
    "num_samples": Rule("an integer >= 1", lambda v: v >= 1),
    **{name: Rule(allowed, check) for name, (allowed, check) in LORA_BOUNDS.items()},
    "every_n_steps": Rule("an integer >= 0 (0: checkpoints at validations only)", _non_negative),
    "skip_nonfinite": Rule("an integer >= 0 (0: stop at the first)", _non_negative),
}


def broken_rule(name: str, value: object) -> Rule | None:
    """The rule that `value` breaks for an argument called `name`, if any."""
    rule = RULES.get(name)
    if rule is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if rule.check(value) else rule
