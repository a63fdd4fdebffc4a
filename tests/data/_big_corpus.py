"""Grow a tokenized corpus's cache folder to gigabytes in seconds, for tests of memory.

Tokenizing a gigabyte of text takes minutes; the loader reads only the shards and the index, so
extra shards of random token ids, written as `corpus_shards` writes its own (ids in the index's
dtype, an index entry with the token count and the digest), make the same corpus to train on.
"""

import json
from pathlib import Path

import numpy as np

from tuneforge.data.corpus_shards import INDEX, head_tail_digest

SHARD_BYTES = 64 * 2**20
BLOCK_BYTES = (
    16 * 2**20
)  # random ids written over and over: the disk, not the generator, sets the pace


def inflate(folder: Path, size: int) -> int:
    """Add shards to the cache `folder` until its tokens take `size` bytes; the bytes they take."""
    index = json.loads((folder / INDEX).read_text())
    dtype = np.dtype(index["dtype"])
    block = np.random.default_rng(0).integers(0, index["vocab_size"], BLOCK_BYTES // dtype.itemsize)
    block = block.astype(dtype)
    while (total := sum(s["tokens"] for s in index["shards"]) * dtype.itemsize) < size:
        path = folder / f"extra-{len(index['shards']):06d}.bin"
        with path.open("wb") as out:
            for _ in range(SHARD_BYTES // BLOCK_BYTES):
                block.tofile(out)
        tokens = SHARD_BYTES // dtype.itemsize
        entry = {"file": path.name, "tokens": tokens, "documents": 0, "characters": 0}
        index["shards"].append(entry | {"digest": head_tail_digest(path)})
    index["tokens"] = total // dtype.itemsize
    (folder / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    return total
