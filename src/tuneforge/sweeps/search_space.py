"""Hydra's sweep syntax as an Optuna search space: the `params:` of an hparams_search file.

The syntax is hydra-optuna-sweeper's, read by Hydra's own override parser, so a config written
for that plugin carries over:

- `interval(a, b)`: a float between a and b; `int(interval(a, b))`: an integer;
  `tag(log, interval(a, b))`: sampled on a log scale.
- `choice(x, y, ...)` or `x,y,...`: one of the values, config group options included
  (`model: choice(cnn, mlp)`); `glob(...)` picks among a group's options by name.
- `range(a, b[, step])`: the values Hydra's basic sweeper would run, b excluded as in Python
  (hydra-optuna-sweeper's sampling also drew b itself).
- `shuffle(...)` of a choice or a range: the same values (order means nothing to a sampler).
- anything else: a fixed value that every trial gets.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from tuneforge.errors import ConfigError

SYNTAX = (
    "interval(a, b), int(interval(a, b)), tag(log, interval(a, b)), choice(x, y, ...), "
    "range(a, b[, step]) or a plain value"
)


@dataclass
class SearchSpace:
    """What each trial samples (`distributions`, by override key) and what every trial gets
    (`fixed`, override strings as written)."""

    distributions: dict[str, Any] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def grid(self) -> dict[str, list]:
        """Every value of each parameter, for Optuna's GridSampler.

        Raises:
            ConfigError: for a continuous parameter, which has no grid.
        """
        from optuna.distributions import CategoricalDistribution

        grid = {}
        for key, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                grid[key] = list(dist.choices)
            elif getattr(dist, "step", None) is not None:
                count = round((dist.high - dist.low) / dist.step) + 1
                grid[key] = [_at(dist, i) for i in range(count)]
            else:
                raise ConfigError(
                    f"hparams_search.sampler=grid needs choice(...) or range(...) for every "
                    f"param; {key} is continuous: give it a range, or choose sampler=tpe"
                )
        return grid


def _at(dist: Any, index: int) -> int | float:
    value = dist.low + index * dist.step
    return value if isinstance(value, int) else round(value, 12)


def _distribution(key: str, override: Any) -> Any:
    """The Optuna distribution of a parsed sweep override."""
    from hydra.core.override_parser.types import Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if override.is_interval_sweep():
        low, high, log = value.start, value.end, "log" in value.tags
        if not low < high or (log and low <= 0):
            raise ConfigError(
                f"hydra.sweeper.params.{key}: interval({low}, {high}) is empty"
                + (" or reaches 0, which a log scale cannot" if log else "")
                + "; write interval(LOW, HIGH) with LOW < HIGH"
            )
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=log)
        return FloatDistribution(float(low), float(high), log=log)
    if override.is_range_sweep() and not value.shuffle:
        values = list(value.range())
        if not values:
            raise ConfigError(
                f"hydra.sweeper.params.{key}: range({value.start}, {value.stop}, {value.step}) "
                "holds no value; the stop is excluded, as in Python"
            )
        low, high, step = min(values), max(values), abs(value.step)
        if len(values) == 1:
            return CategoricalDistribution([values[0]])
        if all(isinstance(v, int) for v in values):
            return IntDistribution(low, high, step=step)
        return FloatDistribution(float(low), float(high), step=float(step))
    # choice(...), a,b,c, glob(...), shuffle(...): a categorical over the values as written
    # Hydra's encoding keeps numbers, strings and booleans, and writes a list or a dict as its
    # override text ("[1, 2]"), which the trial's override reads back as that list or dict.
    choices = list(override.sweep_iterator(transformer=Transformer.encode))
    if not choices:
        raise ConfigError(f"hydra.sweeper.params.{key}: the choice holds no value")
    return CategoricalDistribution(list(dict.fromkeys(choices)))


def _reason(ex: Exception) -> str:
    """The line of Hydra's parse error that says what is wrong (not which override, nor where
    the docs are)."""
    lines = [line.strip() for line in str(ex).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Error parsing override", "See "))]
    return (useful or lines or ["unknown error"])[0]


def parse_search_space(
    params: dict[str, Any] | None, arguments: list[str], config_loader: Any = None
) -> SearchSpace:
    """The search space of `params` (from the config) and the command line's `arguments`.

    A sweep on the command line (`optimizer.lr=interval(1e-4,1e-2)`) adds to the space or
    replaces the config's; a plain value there fixes the parameter for every trial.

    Raises:
        ConfigError: naming the param whose value cannot be parsed.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create(config_loader=config_loader)
    lines = [f"{key}={value}" for key, value in (params or {}).items()]
    space = SearchSpace()
    for line in [*lines, *arguments]:
        key = line.split("=", 1)[0]
        try:
            (override,) = parser.parse_overrides([line])
        except HydraException as ex:
            raise ConfigError(
                f"hydra.sweeper.params.{key}: cannot parse {line.partition('=')[2]!r} "
                f"({_reason(ex)}); write {SYNTAX}"
            ) from ex
        key = override.get_key_element()
        space.distributions.pop(key, None)
        space.fixed = [f for f in space.fixed if f.split("=", 1)[0] != key]
        if override.is_sweep_override():
            space.distributions[key] = _distribution(key, override)
        else:
            space.fixed.append(line)
    return space


def as_override(key: str, value: Any) -> str:
    """`key=value` in Hydra's override syntax, for a value a trial sampled."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) else str(value)
    else:
        text = str(value)
    return f"{key}={text}"


def quoted(text: str) -> str:
    """`text` as one quoted value of Hydra's override syntax (a URL with `=`, `?` or `,`)."""
    return "'" + text.replace("'", "\\'") + "'"
