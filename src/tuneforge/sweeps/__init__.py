"""Hyperparameter sweeps on Optuna, run by tuneforge's Hydra sweeper (`hparams_search=NAME`):
the search space in Hydra's sweep syntax, the study and how workers share it, the trial loop,
and the summary a sweep ends with. And the SLURM jobs that hydra/launcher=submitit_slurm launches
for any sweep (slurm.py)."""

from tuneforge.sweeps.runner import Settings, Sweep, outcome
from tuneforge.sweeps.search_space import SearchSpace, parse_search_space

__all__ = ["SearchSpace", "Settings", "Sweep", "outcome", "parse_search_space"]
