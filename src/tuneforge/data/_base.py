"""What every tuneforge DataModule shares: loaders over named splits, labels, input files."""

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from tuneforge.data._args import Workers, worker_count
from tuneforge.data._resumable import ResumableLoader, ResumableSampler


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

    def loader(self, dataset: Dataset, shuffle: bool = False) -> DataLoader:
        workers = worker_count(self.num_workers)
        seed = torch.initial_seed()  # the run's seed, which build() set
        return ResumableLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=ResumableSampler(dataset, shuffle, seed),
            generator=torch.Generator().manual_seed(seed),  # the workers' seeds
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.splits["train"], shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.splits["val"])

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.splits["test"])

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.splits["test"])

    def labels(self, split: str) -> torch.Tensor | None:
        """The targets of a split, in loader order (predictions.csv's `target` column); None for
        data whose targets are not one label per example (a language model's next tokens)."""
        return getattr(self.splits[split], "labels", None)
