"""LightningModules: what is optimised and measured for each kind of task."""

from tuneforge.tasks.classification import ClassificationTask

__all__ = ["ClassificationTask"]
