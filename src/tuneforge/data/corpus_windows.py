"""Fixed-length windows over a corpus's token shards, in seeded orders that take no memory.

Neither the corpus nor a list of its windows is ever held in memory: window `w` is tokens
[w * T, w * T + T + 1) of the shards laid end to end (T the block size), across document and
shard boundaries, as nanoGPT and LitGPT train, read from its shard with one positional read.
(A memory map would serve the same bytes, but each fault maps a whole page-cache folio into the
process, up to 2 MB a window, so a long run's resident memory would grow towards the corpus's
size; reads leave the caching to the page cache alone.) Orders over the windows are
permutations computed index by index (a Feistel network over the bits of the window count,
cycle-walked into range), so an epoch over a billion windows costs no more memory than one
over ten.
"""

import os
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tuneforge.data.resumable import ResumableSampler, ShardedResumableSampler

ROUNDS = 6
OPEN_SHARDS = 64  # shard files kept open
GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment: spreads one seed into round keys


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on uint64s: every input bit moves every output bit."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class Permutation:
    """A seeded permutation of range(n), or a slice of one: item i is computed when asked for.

    Slicing gives a Permutation over the sliced positions, so a DDP rank's share (`[rank::W]`)
    and the rest of a resumed pass (`[skip:]`) cost nothing either.
    """

    def __init__(self, n: int, seed: int, positions: range | None = None) -> None:
        self.n, self.seed = n, seed
        self.positions = range(n) if positions is None else positions
        bits = max((n - 1).bit_length(), 2)
        self.half = (bits + 1) // 2  # 2 * half bits cover n: the walk's domain is < 4n
        self.mask = np.uint64((1 << self.half) - 1)
        seeds = np.array([seed + i * GOLDEN for i in range(ROUNDS)], dtype=object)
        self.keys = _mix(np.array(seeds % 2**64, dtype=np.uint64))

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, item: int | slice) -> "int | Permutation":
        if isinstance(item, slice):
            return Permutation(self.n, self.seed, self.positions[item])
        return int(self.permute(np.array([self.positions[item]], dtype=np.uint64))[0])

    def __iter__(self) -> Iterator[int]:
        block = 1 << 14
        for start in range(0, len(self.positions), block):
            positions = self.positions[start : start + block]
            chunk = np.arange(positions.start, positions.stop, positions.step, dtype=np.uint64)
            yield from self.permute(chunk).tolist()

    def permute(self, x: np.ndarray) -> np.ndarray:
        """The images of positions `x` (uint64): Feistel rounds, repeated on any that fall
        outside range(n) until none does (each round trip is a bijection of the domain)."""
        x = self._feistel(x)
        outside = x >= self.n
        while outside.any():
            x[outside] = self._feistel(x[outside])
            outside = x >= self.n
        return x

    def _feistel(self, x: np.ndarray) -> np.ndarray:
        half = np.uint64(self.half)
        left, right = x >> half, x & self.mask
        for key in self.keys:
            left, right = right, left ^ (_mix(right ^ key) & self.mask)
        return (left << half) | right


class TokenShards:
    """Token shards laid end to end, opened when first read (a loader worker opens its own)."""

    def __init__(self, shards: list[tuple[Path, int]], dtype: np.dtype) -> None:
        self.paths = [path for path, _ in shards]
        self.starts = np.cumsum([0] + [tokens for _, tokens in shards]).tolist()
        self.dtype = np.dtype(dtype)
        self._files: OrderedDict[int, int] = OrderedDict()  # shard -> file descriptor

    def __len__(self) -> int:
        return self.starts[-1]

    def __getstate__(self) -> dict:
        return self.__dict__ | {"_files": OrderedDict()}

    def __del__(self) -> None:
        for descriptor in self._files.values():
            os.close(descriptor)

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length), across shard boundaries."""
        parts = []
        shard = bisect_right(self.starts, start) - 1
        while length > 0:
            offset = start - self.starts[shard]
            taken = min(length, self.starts[shard + 1] - self.starts[shard] - offset)
            size = self.dtype.itemsize
            raw = os.pread(self._file(shard), taken * size, offset * size)
            parts.append(np.frombuffer(raw, dtype=self.dtype))
            start, length, shard = start + taken, length - taken, shard + 1
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _file(self, shard: int) -> int:
        if shard in self._files:
            self._files.move_to_end(shard)
        else:
            self._files[shard] = os.open(self.paths[shard], os.O_RDONLY)
            if len(self._files) > OPEN_SHARDS:
                os.close(self._files.popitem(last=False)[1])
        return self._files[shard]


class Windows(Dataset):
    """Next-token examples: item i is window `order[i]`, as x (block_size ids) and y, the same
    shifted by one token (int64).

    Args:
        shards: the corpus's tokens.
        block_size: T, the model's context length.
        order: which windows, in which order (a slice of the split's permutation).
    """

    def __init__(self, shards: TokenShards, block_size: int, order: Permutation) -> None:
        self.shards, self.block_size, self.order = shards, block_size, order

    def __len__(self) -> int:
        return len(self.order)

    def window(self, index: int) -> int:
        """The window number of item `index`."""
        return self.order[int(index)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= int(index) < len(self):
            raise IndexError(index)
        start = self.window(index) * self.block_size
        ids = self.shards.read(start, self.block_size + 1).astype(np.int64)
        chunk = torch.from_numpy(ids)
        return chunk[:-1], chunk[1:]


class WindowSampler(ResumableSampler):
    """A ResumableSampler whose shuffled pass is a Permutation, not a list of every index: its
    seed is drawn from the sampler's generator, so a resumed pass draws the same order."""

    def pass_order(self) -> range | Permutation:
        size = len(self.dataset)
        if not self.shuffle:
            return range(size)
        seed = int(torch.randint(2**62, (1,), generator=self.generator))
        return Permutation(size, seed)


class ShardedWindowSampler(ShardedResumableSampler, WindowSampler):
    """ShardedResumableSampler's rank share (every world_size-th index from `rank` on) of
    WindowSampler's order."""
