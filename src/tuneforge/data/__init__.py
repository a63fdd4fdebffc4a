"""LightningDataModules. Each tells the model what it needs through `spec` after `setup()`.

The names below load on first use: the corpus tokenizer's worker processes import a module of
this package, and should not pay for torch, Lightning and every other DataModule to do so.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuneforge.data.chat import ChatDataModule
    from tuneforge.data.corpus import TextCorpusDataModule
    from tuneforge.data.digits import DigitsDataModule
    from tuneforge.data.image_folder import ImageFolderDataModule
    from tuneforge.data.tabular import CSVDataModule
    from tuneforge.data.text import TextLMDataModule
    from tuneforge.data.text_classification import TextClassificationDataModule
    from tuneforge.data.vision import CIFAR10DataModule, FashionMNISTDataModule, MNISTDataModule

# Each name's module in this package.
HOMES = {
    "CIFAR10DataModule": "vision",
    "CSVDataModule": "tabular",
    "ChatDataModule": "chat",
    "DigitsDataModule": "digits",
    "FashionMNISTDataModule": "vision",
    "ImageFolderDataModule": "image_folder",
    "MNISTDataModule": "vision",
    "TextClassificationDataModule": "text_classification",
    "TextCorpusDataModule": "corpus",
    "TextLMDataModule": "text",
}

__all__ = [
    "CIFAR10DataModule",
    "CSVDataModule",
    "ChatDataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "TextClassificationDataModule",
    "TextCorpusDataModule",
    "TextLMDataModule",
]


def __getattr__(name: str) -> Any:
    """`tuneforge.data.TextLMDataModule` and the rest, imported from their module when first
    asked for."""
    if name in HOMES:
        return getattr(import_module(f"{__name__}.{HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
