"""tuneforge's Hydra sweeper on Optuna: select it with `hparams_search=NAME`."""
