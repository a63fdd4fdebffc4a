"""tuneforge: pretrain, fine-tune and evaluate models by composing Hydra configs.

From Python: `tuneforge.compose`, `train`, `evaluate`, `predict` and `load` (tuneforge/api.py)
do what the commands do and return plain objects.

Importing the package is cheap on purpose: the API loads on first use, and torch and Lightning
only when a run starts, so `tuneforge --help` and `--cfg job` answer at once.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "compose", "evaluate", "load", "predict", "train"]

API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str):
    """`tuneforge.train` and the rest, imported from tuneforge.api when first asked for."""
    if name in API:
        from tuneforge import api

        return getattr(api, name)
    raise AttributeError(f"module 'tuneforge' has no attribute {name!r}")
