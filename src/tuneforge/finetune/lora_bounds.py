"""What LoRA's settings may be, in one table: `add_lora` refuses a value outside it, and the
config check (run/config_rules.py) reads the same table to refuse it before a run builds anything.

No torch here, so that the config check reads the table without loading torch.
"""

from collections.abc import Callable

# setting -> (what is allowed, for the message; whether a number is allowed)
LORA_BOUNDS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "lora_rank": ("an integer >= 1 (8 is usual)", lambda v: v >= 1),
    "lora_alpha": ("a number > 0 (twice the rank is usual)", lambda v: v > 0),
    "lora_dropout": ("a number in [0, 1) (0 to 0.1 is usual)", lambda v: 0 <= v < 1),
}


def check_lora_settings(rank: int, alpha: float, dropout: float) -> None:
    """Raises ValueError, one line, for a rank that is not an integer or the first setting
    outside LORA_BOUNDS."""
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise ValueError(f"lora_rank={rank!r} is not possible; use {LORA_BOUNDS['lora_rank'][0]}")
    for name, value in (("lora_rank", rank), ("lora_alpha", alpha), ("lora_dropout", dropout)):
        allowed, check = LORA_BOUNDS[name]
        if not check(value):
            raise ValueError(f"{name}={value!r} is not possible; use {allowed}")
