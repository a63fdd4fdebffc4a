"""LightningDataModules. Each tells the model what it needs through `spec` after `setup()`."""

from tuneforge.data.digits import DigitsDataModule

__all__ = ["DigitsDataModule"]
