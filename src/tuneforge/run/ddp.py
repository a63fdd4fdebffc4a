"""DDP's other ranks, started by Lightning, run the job they belong to: never the whole sweep.

With `strategy=ddp` and no cluster launcher, Lightning starts ranks 1..N-1 by running the
command line again (`sys.argv` plus `hydra.run.dir`). Inside `tuneforge train -m ...` that command
line is the sweep: `-m` and every swept value, so rank 1 would start a sweep of its own and train
every trial again. Lightning documents this case as unsupported and leaves the command to the
application; the fix used with lightning-hydra-template and Hydra (facebookresearch/hydra#2070)
is to build the child's command from the job, as here: `tuneforge VERB`, the job's own overrides
(a trial's values, never `-m`), and the job's own output folder as `hydra.run.dir`. The child
composes the same config, runs once in the same folder, and joins rank 0.
"""

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def child_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command and working folder for DDP's rank `local_rank`, from the running Hydra job.

    Args:
        local_rank: the rank on this node that the command will start (1..devices-1).
    """
    from hydra.core.hydra_config import HydraConfig

    job = HydraConfig.get()
    verb = job.job.config_name
    run_dir = job.runtime.output_dir.replace("\\", "\\\\").replace('"', '\\"')
    command = [
        sys.executable,
        "-m",
        "tuneforge",
        verb,
        *job.overrides.task,
        f'hydra.run.dir="{run_dir}"',
        # Rank 0 writes .hydra/ and VERB.log; this rank logs to VERB_ddp_process_N.log beside it.
        "hydra.output_subdir=null",
        f"hydra.job.name={job.job.name}_ddp_process_{local_rank}",
    ]
    return command, job.runtime.cwd or os.getcwd()


def start_ranks_from_the_job() -> None:
    """Make Lightning's script launcher start other ranks with `child_command`.

    Lightning looks the function up by name each time it starts a rank, in the module of the
    launcher that Trainer strategies use and in Fabric's.
    """
    from lightning.fabric.strategies.launchers import subprocess_script as fabric_launcher
    from lightning.pytorch.strategies.launchers import subprocess_script as trainer_launcher

    for module in (fabric_launcher, trainer_launcher):
        if hasattr(module, "_hydra_subprocess_cmd"):
            module._hydra_subprocess_cmd = child_command


# What Lightning's launcher sets in rank 0's own environment. Left there, the next job of a sweep
# would take LOCAL_RANK for a sign that its ranks were started already, and start none.
_LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def ddp_job() -> Iterator[None]:
    """Run one job whose DDP ranks are its own: they are started with `child_command`, and when it
    ends its process group is closed (Lightning leaves it open) and the launcher's environment
    variables are restored, so that a sweep's next job in this process starts afresh."""
    import torch.distributed as dist

    start_ranks_from_the_job()
    before = {name: os.environ.get(name) for name in _LAUNCH_VARIABLES}
    try:
        yield
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
