"""Lightning's checkpoints, written whole or not at all."""

import io
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from tuneforge.atomic_files import write_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """`torch.save` checkpoints, written to a temporary file in the checkpoint's own folder,
    flushed to disk and renamed over the old one: a run killed while saving leaves the previous
    checkpoint as it was. Lightning's own save stages the file in the system's temporary folder
    and moves it, which copies (and can be cut half-way) where that folder is on another disk.

    Remote paths (s3://, gs://, ...) are saved by Lightning, whose object stores write whole.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        from fsspec.implementations.local import LocalFileSystem

        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        import torch

        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomic(Path(path), lambda handle: handle.write(buffer.getbuffer()), binary=True)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        """Lightning's load, always with `weights_only=True`: a checkpoint to resume from is
        a file from anywhere, and unpickling it must not run code (Lightning passes None, and
        torch's default has changed before)."""
        del weights_only
        if map_location is None:
            return super().load_checkpoint(path, weights_only=True)
        return super().load_checkpoint(path, map_location, weights_only=True)
