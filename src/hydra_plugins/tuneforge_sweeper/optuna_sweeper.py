"""The Hydra Sweeper that `hparams_search=NAME` selects (conf/hydra/sweeper/optuna.yaml).

Hydra imports every module of the `hydra_plugins` namespace package on each start, so this one
stays small and imports Optuna only when a sweep runs; the work is in `tuneforge.sweeps`.
"""

from pathlib import Path
from typing import Any

from hydra.plugins.sweeper import Sweeper


class OptunaSweeper(Sweeper):
    """Runs an Optuna study over `params` with Optuna's ask-and-tell API: each trial is one
    Hydra job, launched by the configured launcher, `n_jobs` at a time. The keyword arguments
    are `hparams_search.*` (see `tuneforge.sweeps.runner.Settings`)."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: Any = None
        self.hydra_context: Any = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> Any:
        from omegaconf import OmegaConf

        from tuneforge.sweeps.runner import Settings, Sweep

        settings = dict(self.settings)
        if OmegaConf.is_config(settings.get("params")):
            settings["params"] = OmegaConf.to_container(settings["params"], resolve=True)
        try:
            typed = Settings(**settings)
        except TypeError as ex:  # a key Settings does not take
            from tuneforge.errors import ConfigError

            raise ConfigError(f"hydra.sweeper: {ex}; see conf/hydra/sweeper/optuna.yaml") from ex
        sweep = Sweep(
            typed,
            sweep_dir=Path(self.config.hydra.sweep.dir),
            verb=self.config.hydra.job.name,
            metric=OmegaConf.select(self.config, "monitor.metric", default="objective"),
            launch=lambda overrides, first: self.launcher.launch(overrides, initial_job_idx=first),
            check=lambda overrides: self.validate_batch_is_legal([overrides]),
        )
        return sweep.run(arguments)
