"""LightningDataModules. Each tells the model what it needs through `spec` after `setup()`."""

from tuneforge.data.chat import ChatDataModule
from tuneforge.data.digits import DigitsDataModule
from tuneforge.data.image_folder import ImageFolderDataModule
from tuneforge.data.tabular import CSVDataModule
from tuneforge.data.text import TextLMDataModule
from tuneforge.data.text_classification import TextClassificationDataModule
from tuneforge.data.vision import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule

__all__ = [
    "CIFAR10DataModule",
    "CSVDataModule",
    "ChatDataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "TextClassificationDataModule",
    "TextLMDataModule",
]
