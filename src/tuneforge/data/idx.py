"""Read the IDX files that MNIST and Fashion-MNIST ship as, gzipped or not.

torchvision only reads them once it has unpacked its own download; users (and Debian's
dataset-fashion-mnist package) often have just the four `.gz` files in a folder.
"""

import gzip
from pathlib import Path

import numpy as np

# IDX type codes (third byte of the magic number) and the numpy dtypes they stand for.
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (`.gz` or plain).

    Raises:
        ValueError: when the file is not an IDX file, or is cut short.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as ex:  # gzip raises these on a damaged file
        raise ValueError(f"'{path}' cannot be read ({ex}); download it again") from ex
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"'{path}' is not an IDX file; download it again")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(
            f"'{path}' is cut short or too long for its shape {shape}; download it again"
        )
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).copy()


def find_idx(root: Path, stem: str, subfolders: tuple[str, ...]) -> Path | None:
    """`stem` or `stem.gz` directly in `root` or in one of its `subfolders`."""
    for folder in (root, *(root / sub for sub in subfolders)):
        for name in (stem, f"{stem}.gz"):
            if (folder / name).is_file():
                return folder / name
    return None
