"""Lightning callbacks that tuneforge adds to every run."""

from tuneforge.callbacks.generated_text import GeneratedText
from tuneforge.callbacks.gradual_unfreeze import GradualUnfreeze
from tuneforge.callbacks.monitored_best import MonitoredBest
from tuneforge.callbacks.nonfinite import NonFiniteLoss, NonFiniteLossError
from tuneforge.callbacks.resume import ResumeState, StepCheckpoint
from tuneforge.callbacks.run_config import StoreRunConfig
from tuneforge.callbacks.throughput import Throughput
from tuneforge.callbacks.trial_pruning import TrialPruning

__all__ = [
    "GeneratedText",
    "GradualUnfreeze",
    "MonitoredBest",
    "NonFiniteLoss",
    "NonFiniteLossError",
    "ResumeState",
    "StepCheckpoint",
    "StoreRunConfig",
    "Throughput",
    "TrialPruning",
]
