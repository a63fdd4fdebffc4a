"""What every tuneforge DataModule shares: loaders over named splits, labels, input files."""

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tuneforge.data._args import Workers, worker_count
from tuneforge.data.resumable import ResumableLoader, ResumableSampler, ShardedResumableSampler


class SplitsDataModule(L.LightningDataModule):
    """A DataModule whose `setup()` fills `self.splits` with "train", "val" and "test" datasets.

    Subclasses set `batch_size` and `num_workers`; the loaders, `labels()` and the loader of
    `read_inputs()` come from here, so every set loads the same way (workers kept alive between
    epochs, memory pinned when a GPU will take the batches, and a place in the pass that a
    resumed run continues from).
    """

    batch_size: int
    num_workers: Workers

    def __init__(self) -> None:
        super().__init__()
        self.splits: dict[str, Dataset] = {}

    def loader(
        self, dataset: Dataset, shuffle: bool = False, sampler: Sampler | None = None
    ) -> DataLoader:
        workers = worker_count(self.num_workers)
        seed = torch.initial_seed()  # the run's seed, which build() set
        return ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ResumableSampler(dataset, shuffle, seed) if sampler is None else sampler,
            generator=torch.Generator().manual_seed(seed),  # the workers' seeds
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        train = self.splits["train"]
        rank, world_size = self._rank()
        if world_size == 1:
            return self.loader(train, shuffle=True)
        shard = ShardedResumableSampler(train, True, torch.initial_seed(), rank, world_size)
        return self.loader(train, sampler=shard)

    def val_dataloader(self) -> DataLoader:
        return self.evaluation_loader(self.splits["val"])

    def test_dataloader(self) -> DataLoader:
        return self.evaluation_loader(self.splits["test"])

    def evaluation_loader(self, dataset: Dataset) -> DataLoader:
        """A loader for validation or test. Under DDP each rank reads every world_size-th sample
        and none twice: Lightning's DistributedSampler would pad the last batches with repeated
        samples so that every rank has as many, and the metrics would count those twice. The
        metrics sum their states across ranks, so they equal one process's over the whole set."""
        rank, world_size = self._rank()
        if world_size == 1:
            return self.loader(dataset)
        from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

        shard = UnrepeatedDistributedSampler(
            dataset, num_replicas=world_size, rank=rank, shuffle=False
        )
        return self.loader(dataset, sampler=shard)

    def _rank(self) -> tuple[int, int]:
        """This process's rank and the number of processes (0 and 1 outside DDP)."""
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.splits["test"])

    def labels(self, split: str) -> torch.Tensor | None:
        """The targets of a split, in loader order (predictions.csv's `target` column); None for
        data whose targets are not one label per example (a language model's next tokens)."""
        return getattr(self.splits[split], "labels", None)
