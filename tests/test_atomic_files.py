"""The one atomic writer: the new file is on disk before it replaces the old one, a write that
fails leaves the old file and nothing else, and what it writes is as readable as any file."""

import errno
import os

import pytest

from tuneforge.atomic_files import UNFINISHED, atomic_path, write_atomic


def test_the_file_is_flushed_to_disk_before_it_replaces_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    path.write_text("old")
    seen = []
    fsync = os.fsync

    def watched(fd: int) -> None:
        seen.append(path.read_text())  # still the old file when the new bytes are flushed
        fsync(fd)

    monkeypatch.setattr(os, "fsync", watched)
    write_atomic(path, lambda handle: handle.write("new"))
    assert path.read_text() == "new"
    assert seen[0] == "old"  # the file, then (on POSIX) the folder's entry for the rename
    assert list(tmp_path.iterdir()) == [path]


def test_a_write_that_fails_keeps_the_old_file_and_names_its_path(tmp_path, monkeypatch):
    path = tmp_path / "report.md"
    path.write_text("old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as raised:
        write_atomic(path, lambda handle: handle.write("new"))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(path)
    assert path.read_text() == "old"
    assert not list(tmp_path.glob(UNFINISHED))


def test_the_file_has_the_modes_of_any_new_file(tmp_path):
    path = tmp_path / "deep" / "model.safetensors"
    with atomic_path(path) as tmp:
        assert tmp.name.startswith(".model.safetensors.") and tmp.match(UNFINISHED)
        tmp.write_bytes(b"weights")
    umask = os.umask(0)
    os.umask(umask)
    assert path.read_bytes() == b"weights"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
