"""LightningDataModules. Each tells the model what it needs through `spec` after `setup()`."""

from tuneforge.data.digits import DigitsDataModule
from tuneforge.data.vision import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule

__all__ = ["CIFAR10DataModule", "DigitsDataModule", "FashionMNISTDataModule", "MNISTDataModule"]
