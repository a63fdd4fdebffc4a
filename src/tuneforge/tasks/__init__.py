"""LightningModules: what is optimised and measured for each kind of task."""

from tuneforge.tasks.causal_lm import CausalLMTask
from tuneforge.tasks.classification import ClassificationTask
from tuneforge.tasks.language_modeling import LanguageModelingTask
from tuneforge.tasks.regression import RegressionTask

__all__ = ["CausalLMTask", "ClassificationTask", "LanguageModelingTask", "RegressionTask"]
