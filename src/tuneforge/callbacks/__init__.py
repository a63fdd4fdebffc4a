"""Lightning callbacks that tuneforge adds to every run."""

from tuneforge.callbacks.chat_replies import ChatReplies
from tuneforge.callbacks.confusion_matrix import ConfusionMatrix
from tuneforge.callbacks.data_report import DataReport
from tuneforge.callbacks.embeddings import Embeddings
from tuneforge.callbacks.generated_text import GeneratedText
from tuneforge.callbacks.gradual_unfreeze import GradualUnfreeze
from tuneforge.callbacks.histograms import WeightHistograms
from tuneforge.callbacks.image_grids import MisclassifiedImages, TrainingImages
from tuneforge.callbacks.model_graph import ModelGraph
from tuneforge.callbacks.monitored_best import MonitoredBest
from tuneforge.callbacks.nonfinite import NonFiniteLoss, NonFiniteLossError
from tuneforge.callbacks.pr_curves import PrCurves
from tuneforge.callbacks.progress_bar import ProgressBar
from tuneforge.callbacks.resume import ResumeState, StepCheckpoint
from tuneforge.callbacks.run_config import StoreRunConfig
from tuneforge.callbacks.throughput import Throughput
from tuneforge.callbacks.trial_pruning import TrialPruning

__all__ = [
    "ChatReplies",
    "ConfusionMatrix",
    "DataReport",
    "Embeddings",
    "GeneratedText",
    "GradualUnfreeze",
    "MisclassifiedImages",
    "ModelGraph",
    "MonitoredBest",
    "NonFiniteLoss",
    "NonFiniteLossError",
    "PrCurves",
    "ProgressBar",
    "ResumeState",
    "StepCheckpoint",
    "StoreRunConfig",
    "Throughput",
    "TrainingImages",
    "TrialPruning",
    "WeightHistograms",
]
