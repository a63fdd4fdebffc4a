"""What the trainer's device decides before the Trainer is built: a precision it can run, an
optimizer step it can clip, and TensorFloat-32 matmuls on the GPUs that have them. torch is
imported inside the functions: build is imported by quick answers (`--cfg job`) that must not pay
for it."""

import copy
import logging
import warnings
from typing import Any

log = logging.getLogger(__name__)

# The CPU has no float16 autocast (Lightning refuses it there); bfloat16 keeps float32's range.
_CPU_FALLBACK = {"16-mixed": "bf16-mixed", "16": "bf16-mixed"}


def _on_cpu(trainer: Any) -> bool:
    import torch

    accelerator = trainer.get("accelerator", "auto")
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def runnable_precision(trainer: Any) -> str | None:
    """The precision to give the Trainer in place of `trainer.precision`, or None to keep it:
    16-mixed on the CPU trains in bf16-mixed, said in one warning line."""
    # Lightning says this of every bf16 run; the run's precision is not in doubt.
    warnings.filterwarnings("ignore", message=r"Precision .* is not supported by the model summary")
    asked = str(trainer.get("precision"))
    if asked not in _CPU_FALLBACK or not _on_cpu(trainer):
        return None
    used = _CPU_FALLBACK[asked]
    log.warning(
        "trainer.precision=%s has no float16 autocast on the CPU: training in %s instead "
        "(set trainer.precision=%s to silence this)",
        asked,
        used,
        used,
    )
    return used


def runnable_optimizer(optimizer: Any, trainer: Any) -> Any:
    """The optimizer's config as this trainer can step it: a fused one (`fused: true`) under mixed
    precision with gradient clipping trains unfused, said in one warning line. Lightning refuses
    that pair at the first step, since a fused step unscales the gradients itself, after clipping
    would have read them; an experiment made on a CPU then still runs with trainer=gpu."""
    precision = str(trainer.get("precision"))
    clipping = trainer.get("gradient_clip_val")
    if not (optimizer.get("fused") and "mixed" in precision and clipping):
        return optimizer
    log.warning(
        "optimizer.fused=true cannot clip gradients under trainer.precision=%s: training with "
        "the unfused optimizer (set optimizer.fused=null to silence this)",
        precision,
    )
    unfused = copy.deepcopy(optimizer)
    unfused.fused = None
    return unfused


def use_tf32(trainer: Any, allowed: bool) -> None:
    """TensorFloat-32 float32 matmuls (torch's 'high' precision) when the run trains on a CUDA
    GPU of compute capability 8.0 or newer (Ampere, Hopper, ...) and `allowed` (the `tf32` key):
    several times faster, with a 10-bit mantissa that training does not notice."""
    import torch

    if not allowed or _on_cpu(trainer) or not torch.cuda.is_available():
        return
    if torch.cuda.get_device_capability() >= (8, 0):
        torch.set_float32_matmul_precision("high")
        log.info("TF32 matmuls on %s (tf32=false: full float32)", torch.cuda.get_device_name())
