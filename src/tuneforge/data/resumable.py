"""A DataLoader that a run killed in the middle of an epoch resumes at the next batch.

Lightning keeps a loader's `state_dict()` in every checkpoint and hands it back through
`load_state_dict()` when a run resumes. This loader's state says where the pass stands: the state
of its sampler's generator when the pass began (so the same order is drawn again), how many
batches were handed out, and, with no worker processes, the state of a dataset that draws random
numbers of its own. Its shuffling and its workers' seeds come from generators of their own, so
reading data never moves the global random state that dropout and augmentation draw from.

With worker processes the order and position resume exactly, but a dataset or augmentation that
draws random numbers inside the workers starts their streams again from the epoch's seed.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler


class ResumableSampler(Sampler[int]):
    """The indices of `dataset` for one pass: shuffled by a seeded generator of its own, or in
    order. The next pass leaves out its first `skip` indices, which a killed run had already used.

    Args:
        dataset: a map-style dataset (its length is read at each pass).
        shuffle: draw a new order for each pass.
        seed: seeds the generator, so a seeded run draws the same orders.
    """

    def __init__(self, dataset: Dataset, shuffle: bool, seed: int) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)
        self.skip = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        order = self.pass_order()
        skip, self.skip = self.skip, 0
        return iter(order[skip:])

    def pass_order(self) -> Sequence[int]:
        """The indices of a whole pass (a new order each call when shuffling)."""
        size = len(self.dataset)
        return (
            torch.randperm(size, generator=self.generator).tolist() if self.shuffle else range(size)
        )


class ShardedResumableSampler(ResumableSampler, DistributedSampler):
    """A ResumableSampler for rank `rank` of a DDP run of `world_size` processes.

    Every rank draws the same order and takes every world_size-th index of it from its rank on,
    so the ranks' batches of B together are the batch of world_size * B that one process would
    read; the last world_size - 1 indices at most are left out of a pass, so that every rank
    takes as many steps. Lightning wraps any sampler that is not a DistributedSampler in one
    that shuffles again; this one is, so it is left as it is, and a resumed DDP run continues
    each rank's shard where it stopped.
    """

    def __init__(self, dataset: Dataset, shuffle: bool, seed: int, rank: int, world_size: int):
        ResumableSampler.__init__(self, dataset, shuffle, seed)
        self.rank, self.num_replicas = rank, world_size

    def __len__(self) -> int:
        return len(self.dataset) // self.num_replicas

    def pass_order(self) -> Sequence[int]:
        usable = len(self) * self.num_replicas
        return super().pass_order()[self.rank : usable : self.num_replicas]

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the generator draws each pass's order in turn."""


class ResumableLoader(DataLoader):
    """A DataLoader over a ResumableSampler whose place in the pass is saved and restored.

    It takes DataLoader's arguments, so Lightning can rebuild it with another sampler (as
    `overfit_batches` does); with a sampler other than a ResumableSampler a pass restarts from
    its beginning.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batches = 0  # handed out in the current pass
        self._finished = False
        self._pass_start: torch.Tensor | None = None  # the sampler's generator when it began
        self._resume: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        # A generator: nothing runs until the first batch is asked for, so a state that arrives
        # after the iterator was made (see callbacks.ResumeState) still applies to this pass.
        skip = self._apply_resume()
        sampler = self.sampler if isinstance(self.sampler, ResumableSampler) else None
        if sampler is not None:
            self._pass_start = sampler.generator.get_state()
            sampler.skip = skip * (self.batch_size or 1)
        self._batches, self._finished = skip if sampler is not None else 0, False
        for batch in super().__iter__():
            self._batches += 1
            yield batch
        self._finished = True

    def end_pass(self) -> None:
        """Mark the pass as done although batches are left: Lightning ended the epoch early
        (`limit_train_batches`), and a run resumed from here starts the next pass."""
        self._finished = True

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"batches": self._batches, "finished": self._finished}
        if isinstance(self.sampler, ResumableSampler):
            state["generator"] = self.sampler.generator.get_state()
            if self._pass_start is not None:
                state["pass_start"] = self._pass_start
        dataset_state = getattr(self.dataset, "state_dict", None)
        if self.num_workers == 0 and callable(dataset_state):
            state["dataset"] = dataset_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from `state` when the next pass begins."""
        self._resume = state

    def _apply_resume(self) -> int:
        """Put the sampler and the dataset back where the saved pass stood; the batches of
        that pass already used (0 where the pass had ended: the next one starts afresh)."""
        state, self._resume = self._resume, None
        if state is None:
            return 0
        if "dataset" in state and hasattr(self.dataset, "load_state_dict"):
            self.dataset.load_state_dict(state["dataset"])
        if not isinstance(self.sampler, ResumableSampler) or "generator" not in state:
            return 0
        if state["finished"] or "pass_start" not in state:
            self.sampler.generator.set_state(state["generator"])
            return 0
        self.sampler.generator.set_state(state["pass_start"])
        return state["batches"]
