"""The old home of `fsdp` (now `tuneforge.run.fsdp`), kept so that users' configs and checkpoints
naming `tuneforge.cli.strategies.fsdp` still build."""

from tuneforge.run.fsdp import fsdp

__all__ = ["fsdp"]
