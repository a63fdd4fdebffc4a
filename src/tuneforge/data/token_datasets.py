"""Datasets of next-token windows over a `.bin` file of token ids.

Each example is a window `x` of `block_size` ids and `y`, the same window shifted by one token.
The file is memory-mapped, so a corpus larger than memory still loads and loader workers share
the pages instead of copying the ids.
"""

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset


class _TokenFile(Dataset):
    """Windows over a `.bin` file of token ids, opened lazily so workers map it, not copy it."""

    def __init__(self, path: Path, dtype: type, block_size: int) -> None:
        self.path, self.dtype, self.block_size = path, dtype, block_size
        self._ids: np.ndarray | None = None

    @property
    def ids(self) -> np.ndarray:
        if self._ids is None:
            self._ids = np.memmap(self.path, dtype=self.dtype, mode="r")
        return self._ids

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_ids": None}

    def window(self, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """x = ids[start : start + block_size] and y, the same shifted by one token (int64)."""
        chunk = torch.from_numpy(self.ids[start : start + self.block_size + 1].astype(np.int64))
        return chunk[:-1], chunk[1:]


class RandomBlocks(_TokenFile):
    """Training windows at random starts; `length` of them make an epoch.

    The generator is seeded from `torch.initial_seed()` in the process that reads, so a seeded run
    repeats and each loader worker (seeded apart by the DataLoader) draws different windows.
    """

    def __init__(self, path: Path, dtype: type, block_size: int, length: int) -> None:
        super().__init__(path, dtype, block_size)
        self.length = length
        self._generator: tuple[int, torch.Generator] | None = None  # (owning pid, generator)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        high = len(self.ids) - self.block_size
        start = int(torch.randint(high, (1,), generator=self._own_generator()))
        return self.window(start)

    def _own_generator(self) -> torch.Generator:
        if self._generator is None or self._generator[0] != os.getpid():
            self._generator = (os.getpid(), torch.Generator().manual_seed(torch.initial_seed()))
        return self._generator[1]

    def state_dict(self) -> dict[str, Any]:
        """Where this process's window draws stand, for a run resumed mid-epoch (the loader
        saves it when it reads in the main process)."""
        return {"generator": self._own_generator().get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._own_generator().set_state(state["generator"])


class ConsecutiveBlocks(_TokenFile):
    """Evaluation windows side by side from the start, so every token is scored once."""

    def __len__(self) -> int:
        return (len(self.ids) - 1) // self.block_size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.window(index * self.block_size)


def spread_sample(windows: Dataset, count: int) -> Dataset:
    """`count` of `windows` spread evenly from the first to the last, the same ones every call:
    a validation that reads them at every interval is cheap, covers the whole split's text, and
    gives curves whose points are comparable. All of them where there are no more than `count`."""
    total = len(windows)
    if count >= total:
        return windows
    indices = np.linspace(0, total - 1, count).round().astype(int)  # distinct: count < total
    return Subset(windows, indices.tolist())
