"""tuneforge: pretrain, fine-tune and evaluate models by composing Hydra configs.

Importing the package is cheap on purpose: torch and Lightning load only when a run starts, so
`tuneforge --help` and `--cfg job` answer at once.
"""

__version__ = "0.1.0"
