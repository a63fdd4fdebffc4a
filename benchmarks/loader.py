"""Images per second out of tuneforge's Fashion-MNIST DataModule with augmentation=basic, beside a
plain torchvision DataLoader doing the same transforms on the same uint8 images.

Both read every training image once per pass: random shift (pad 4, crop 28), horizontal flip,
scaling to [0, 1] and standardizing, batches of 128, the same number of workers. The plain side
uses torchvision's own RandomCrop and Normalize. Passes alternate, and the table shows the
median over `--repeats` passes of each. Goal: tuneforge / plain >= 0.95.

Needs Fashion-MNIST's IDX files (Debian: apt-get install dataset-fashion-mnist).
Run: .venv/bin/python benchmarks/loader.py [--root DIR] [--workers 0] [--repeats 3]
"""

import argparse
import statistics
import time

import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from tuneforge.data import FashionMNISTDataModule
from tuneforge.data.tensors import TensorClassificationDataset

GOAL = 0.95


def images_per_second(loader: DataLoader) -> float:
    start, seen = time.perf_counter(), 0
    for x, _ in loader:
        seen += len(x)
    return seen / (time.perf_counter() - start)


def tuneforge_loader(root: str, workers: int) -> tuple[DataLoader, FashionMNISTDataModule]:
    from omegaconf import OmegaConf

    from tuneforge.configs import config_dir

    basic = OmegaConf.load(config_dir() / "augmentation" / "basic.yaml")
    transforms = [instantiate(t) for t in basic.train]
    datamodule = FashionMNISTDataModule(
        root=root, batch_size=128, num_workers=workers, train_transforms=transforms
    )
    datamodule.setup()
    return datamodule.train_dataloader(), datamodule


def plain_loader(datamodule: FashionMNISTDataModule, workers: int) -> DataLoader:
    train: TensorClassificationDataset = datamodule.splits["train"]
    pipeline = v2.Compose(
        [
            v2.RandomCrop(28, padding=4),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(datamodule.mean, datamodule.std),
        ]
    )

    class Plain(Dataset):
        def __len__(self) -> int:
            return len(train)

        def __getitem__(self, index: int):
            return pipeline(train.inputs[index]), train.labels[index]

    return DataLoader(
        Plain(), batch_size=128, shuffle=True, num_workers=workers, persistent_workers=workers > 0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ours, datamodule = tuneforge_loader(args.root, args.workers)
    loaders = {"plain torchvision DataLoader": plain_loader(datamodule, args.workers)}
    loaders["tuneforge augmentation=basic"] = ours
    rates: dict[str, list[float]] = {label: [] for label in loaders}
    for _ in range(args.repeats):
        for label, loader in loaders.items():
            rates[label].append(images_per_second(loader))
    medians = {label: statistics.median(values) for label, values in rates.items()}
    plain = medians["plain torchvision DataLoader"]
    print(f"\n{len(datamodule.splits['train'])} images a pass, {args.workers} workers\n")
    print(f"{'loader':<32}{'images/s':>10}{'vs plain':>10}")
    for label, rate in medians.items():
        print(f"{label:<32}{rate:>10.0f}{rate / plain:>10.2f}")
    ratio = medians["tuneforge augmentation=basic"] / plain
    print(f"\ngoal: >= {GOAL} x plain: {'met' if ratio >= GOAL else 'NOT met'} ({ratio:.2f})")


if __name__ == "__main__":
    main()
