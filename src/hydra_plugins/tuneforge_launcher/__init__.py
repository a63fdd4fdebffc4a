"""tuneforge's Hydra launcher for SLURM: select it with `hydra/launcher=submitit_slurm`."""
