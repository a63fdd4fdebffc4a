"""Checkpoints and run files are written whole or not at all: a save cut short, by an error or a
kill, leaves the previous file as it was; a full disk or a read-only folder is one line."""

import errno
import os
import signal
import subprocess
import sys

import pytest
import torch

from tuneforge.callbacks import NonFiniteLossError
from tuneforge.cli import messages
from tuneforge.errors import EXIT_DIVERGED, EXIT_OUTPUT
from tuneforge.run.checkpoint_io import AtomicCheckpointIO
from tuneforge.run.files import write_json

KILLED_WHILE_SAVING = """
import os, signal, sys, torch
from tuneforge.run.checkpoint_io import AtomicCheckpointIO

def pause(fd):
    print("saving", flush=True)
    signal.pause()

os.fsync = pause  # the bytes are written, not yet renamed over the old file
AtomicCheckpointIO().save_checkpoint({"weights": torch.ones(3)}, sys.argv[1])
"""


def test_a_save_that_fails_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"weights": torch.zeros(3)}, path)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as ex:
        io.save_checkpoint({"weights": torch.ones(3)}, path)
    assert ex.value.errno == errno.ENOSPC and ex.value.filename == str(path)
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_kill_while_saving_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"weights": torch.zeros(3)}, path)
    saving = subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_SAVING, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert saving.stdout.readline() == "saving\n"
    saving.send_signal(signal.SIGKILL)
    saving.wait()
    saving.stdout.close()
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.zeros(3))
    (unfinished,) = tmp_path.glob(".last.ckpt.*.tmp")  # what resume=auto clears away
    assert unfinished.stat().st_size > 0


def test_a_json_write_that_fails_half_way_leaves_no_file(tmp_path):
    with pytest.raises(TypeError):  # "a" is written, then "b" cannot be
        write_json(tmp_path / "metrics.json", {"a": 1.0, "b": object()})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, "the disk is full; free some space, or write the run to another folder"),
        (errno.EROFS, "the file system is read-only; write the run to another folder with"),
        (errno.EACCES, "permission denied; write the run to another folder with hydra.run.dir"),
    ],
)
def test_a_full_disk_or_read_only_folder_is_one_line(code, says):
    cause = OSError(code, os.strerror(code), "/runs/a/checkpoints/last.ckpt")
    try:
        raise RuntimeError("file write failed") from cause
    except RuntimeError as wrapped:
        lines, exit_code = messages.failure(wrapped)
    assert exit_code == EXIT_OUTPUT
    assert lines == [lines[0]] and lines[0].startswith(
        f"cannot write '/runs/a/checkpoints/last.ckpt': {says}"
    )


def test_a_full_disk_says_the_checkpoints_saved_are_kept():
    (line,), _ = messages.failure(OSError(errno.ENOSPC, "No space left on device"))
    assert line.startswith("cannot write a file of the run: the disk is full")
    assert line.endswith(
        "the checkpoints saved before it are kept: resume=auto continues from the newest"
    )


def test_a_non_finite_loss_has_its_own_exit_code():
    lines, exit_code = messages.failure(NonFiniteLossError(12, float("inf"), 0))
    assert exit_code == EXIT_DIVERGED
    assert lines[0].startswith("the training loss was inf at step 12; training stopped")
