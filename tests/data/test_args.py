"""Argument rules shared by every DataModule: `num_workers` as a count or `auto`."""

import os

import pytest

from tuneforge.data import ImageFolderDataModule
from tuneforge.data._args import MAX_AUTO_WORKERS, worker_count


def test_auto_is_one_worker_per_usable_core_at_most_eight():
    cores = len(os.sched_getaffinity(0))
    assert worker_count("auto") == min(cores, MAX_AUTO_WORKERS) >= 1
    assert worker_count(0) == 0 and worker_count(3) == 3


@pytest.mark.parametrize("workers", [-1, "all", 1.5, True])
def test_other_worker_settings_are_refused_by_name(tmp_path, workers):
    with pytest.raises(ValueError, match=r"num_workers=.* is not allowed; it must be .*or auto"):
        ImageFolderDataModule(root=str(tmp_path), num_workers=workers)
