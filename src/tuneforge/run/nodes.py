"""`trainer.num_nodes` against the nodes the environment provides.

Lightning trusts `num_nodes`: asked for two nodes where the process was started as a lone one, it
waits at the process group's rendezvous for ranks that never come, silently, until a timeout of
half an hour. Each launcher says how many nodes it started: SLURM in SLURM_NNODES, torchrun in
WORLD_SIZE / LOCAL_WORLD_SIZE; a hand-started node (Lightning's own environment) carries
NODE_RANK and MASTER_ADDR, with no count to check but its own rank.
"""

import os

from tuneforge.errors import ConfigError

HOW = (
    "start one process per node with MASTER_ADDR, MASTER_PORT and NODE_RANK=0..N-1 set, or "
    "through SLURM with hydra/launcher=submitit_slurm (its hydra.launcher.nodes follows "
    "trainer.num_nodes)"
)


def _int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else None


def provided_nodes() -> tuple[int | None, str]:
    """How many nodes the launcher of this process started (None: it does not say), and which
    launcher that is, as Lightning tells its cluster environments apart."""
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if SLURMEnvironment.detect():
        return _int("SLURM_NNODES"), "this SLURM job (SLURM_NNODES)"
    if TorchElasticEnvironment.detect():
        world, local = _int("WORLD_SIZE"), _int("LOCAL_WORLD_SIZE")
        nodes = world // local if world and local else None
        return nodes, "torchrun (WORLD_SIZE / LOCAL_WORLD_SIZE)"
    if "NODE_RANK" in os.environ and "MASTER_ADDR" in os.environ:
        return None, "NODE_RANK and MASTER_ADDR"
    return 1, "a process started without a cluster launcher"


def check_nodes(num_nodes: int) -> None:
    """Refuse, in one line, a `trainer.num_nodes` that the environment does not provide.

    Raises:
        ConfigError: when the launcher started another number of nodes, or none but this one,
            or NODE_RANK is not one of num_nodes.
    """
    nodes, source = provided_nodes()
    if nodes is not None and nodes != num_nodes:
        fix = HOW if nodes == 1 else f"set trainer.num_nodes={nodes}"
        raise ConfigError(
            f"trainer.num_nodes={num_nodes} but {source} provides {nodes} node"
            f"{'s' if nodes != 1 else ''}; {fix}"
        )
    rank = _int("NODE_RANK")
    if nodes is None and rank is not None and rank >= num_nodes:
        raise ConfigError(
            f"NODE_RANK={rank} is not one of the trainer.num_nodes={num_nodes} nodes "
            f"(0..{num_nodes - 1}); {HOW}"
        )
