"""The Hydra Launcher that `hydra/launcher=submitit_slurm` selects
(conf/hydra/launcher/submitit_slurm.yaml): hydra-submitit-launcher's, which first refuses a job
that no node of its partition can hold and, while it waits for the jobs, says what state each is
in and why it pends.

Hydra imports every module of the `hydra_plugins` namespace package on each start, so this one
imports the work (`tuneforge.sweeps.slurm`, and submitit) only when jobs are launched.
"""

from collections.abc import Sequence
from typing import Any

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    SlurmLauncher as SubmititSlurmLauncher,
)


class SlurmLauncher(SubmititSlurmLauncher):
    """Each run, or each trial of a sweep, as one SLURM job (a job array for several)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from tuneforge.sweeps.slurm import check_partition, labels, reporting

        check_partition(self.params)
        with reporting(labels(job_overrides, initial_job_idx)):
            return super().launch(job_overrides, initial_job_idx)
