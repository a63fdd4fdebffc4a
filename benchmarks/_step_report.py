"""What every side of llm_finetune.py and pretrain.py reports of its training steps, computed one
way: the median step after the warmup steps, tokens per second over those steps, each step's loss
and the process's peak RSS."""

import resource
import statistics


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (ru_maxrss, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_report(
    seconds: list[float], tokens: list[int], losses: list[float], warmup: int, peak_mib: float
) -> dict:
    """The keys each side reports; the first `warmup` steps are left out of the times."""
    timed = seconds[warmup:]
    return {
        "ms_per_step": 1000 * statistics.median(timed),
        "tokens_per_second": sum(tokens[warmup:]) / sum(timed),
        "losses": losses,
        "peak_rss_mib": peak_mib,
    }
