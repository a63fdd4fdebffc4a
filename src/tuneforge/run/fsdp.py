"""Distributed strategies that a config can describe in YAML alone.

Lightning's FSDPStrategy takes its auto-wrap policy as a set of module classes, which YAML cannot
hold; `fsdp` takes their import paths instead (conf/trainer/fsdp.yaml names our transformer
blocks).
"""

from typing import Literal

from hydra.utils import get_class


def _classes(paths: list[str], key: str) -> set[type]:
    """The classes `paths` name; a ValueError (which build() reports as a config error) naming
    the first one that does not import."""
    classes = set()
    for path in paths:
        try:
            classes.add(get_class(path))
        except Exception as ex:
            raise ValueError(
                f"{key} names {path!r}, which is not an importable class; give module.Class "
                "paths such as tuneforge.models.gpt.Block"
            ) from ex
    return classes


def fsdp(
    wrap: list[str],
    checkpoint_activations: bool = False,
    sharding_strategy: Literal[
        "FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "_HYBRID_SHARD_ZERO2"
    ] = "FULL_SHARD",
    state_dict_type: Literal["full", "sharded"] = "full",
    cpu_offload: bool = False,
):
    """Lightning's FSDPStrategy that shards each module of a class in `wrap` as one unit.

    Args:
        wrap: import paths of the block classes to wrap (the model's repeated layers).
        checkpoint_activations: recompute the activations of those blocks in the backward pass,
            trading compute for memory.
        sharding_strategy: what is sharded across ranks (FULL_SHARD: parameters, gradients and
            optimizer state).
        state_dict_type: "full" gathers a checkpoint that loads anywhere; "sharded" saves one
            file per rank, faster for large models.
        cpu_offload: keep parameters on the CPU between uses.
    """
    from lightning.pytorch.strategies import FSDPStrategy

    blocks = _classes(wrap, "wrap")
    return FSDPStrategy(
        auto_wrap_policy=blocks,
        activation_checkpointing_policy=blocks if checkpoint_activations else None,
        sharding_strategy=sharding_strategy,
        state_dict_type=state_dict_type,
        cpu_offload=cpu_offload,
    )
