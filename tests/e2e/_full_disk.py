"""Hooks that make the disk of a real `tuneforge train`'s run folder full from a point on, where
no small disk can be mounted: files there still open, but every byte written to one fails with
OSError ENOSPC and no file name, as the kernel's write(2) does on a full disk.

A file opened for writing in the folder gets /dev/full in place of its file descriptor, so the
run's own code (buffered files, the atomic writer, the lock's pwrite) meets the error where it
would. `ftruncate` and `fsync`, which /dev/full refuses with EINVAL, succeed on such a descriptor,
as they do on a full disk. Checkpoints already written stay as they are.
"""

import builtins
import io
import os
from pathlib import Path

import lightning as L
from hydra.experimental.callback import Callback

WRITES = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT


def fill(folder: str) -> None:
    """From now on, in this process, writes to files under `folder` find the disk full."""
    root = Path(folder).absolute()
    full = os.open("/dev/full", os.O_WRONLY)
    full_device = os.fstat(full).st_rdev
    real_open, real_os_open = builtins.open, os.open
    real_ftruncate, real_fsync = os.ftruncate, os.fsync

    def inside(path) -> bool:
        if isinstance(path, int):
            return False
        return root == (path := Path(os.fsdecode(path)).absolute()) or root in path.parents

    def to_full(fd: int) -> None:
        os.dup2(full, fd)

    def open_full(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if inside(file) and set(mode) & set("wax+"):
            to_full(handle.fileno())
        return handle

    def os_open_full(path, flags, *args, **kwargs):
        fd = real_os_open(path, flags, *args, **kwargs)
        if flags & WRITES and inside(path):
            to_full(fd)
        return fd

    def on_full(real):
        def call(fd, *args):
            if os.fstat(fd).st_rdev == full_device:
                return None
            return real(fd, *args)

        return call

    builtins.open = io.open = open_full
    os.open = os_open_full
    os.ftruncate, os.fsync = on_full(real_ftruncate), on_full(real_fsync)


class FullDiskAtStart(Callback):
    """A Hydra callback (`+hydra.callbacks.NAME._target_=...`): the disk of `folder` is full
    as the job starts, before tuneforge writes its first file there."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_job_start(self, config, **kwargs) -> None:
        fill(self.folder)


class FullDiskAtTest(L.Callback):
    """A Lightning callback: the disk of the run folder is full once training has ended and
    saved its last checkpoints, as the test split is scored, before metrics.json is written."""

    def on_test_start(self, trainer, pl_module) -> None:
        fill(trainer.default_root_dir)
