"""The one safe reader of checkpoints: data only, one error saying why a file was not loaded,
and which checkpoint of a run folder stands for the run."""

import os

import pytest
import torch
from torch import nn

from tuneforge.checkpoint_format import NotLoaded, load_safely, run_checkpoint


def test_a_checkpoint_loads_as_data_on_the_cpu(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, path)
    for mmap in (False, True):
        loaded = load_safely(path, mmap=mmap)
        assert loaded["epoch"] == 3 and torch.equal(loaded["state_dict"]["w"], torch.ones(2))


def test_pickled_code_is_refused_and_said_so(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)  # the whole module: unpickling it would run its class
    with pytest.raises(NotLoaded) as raised:
        load_safely(path)
    assert raised.value.holds_code
    assert str(raised.value) == (
        f"'{path}' holds pickled code and was not loaded (only tensors and plain data are read)"
    )


@pytest.mark.parametrize("damage", ["truncated", "text"])
def test_a_file_that_is_not_a_torch_file_is_said_so(tmp_path, damage):
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.ones(100)}}, path)
    if damage == "truncated":
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.write_text("these are not weights\n")
    with pytest.raises(NotLoaded) as raised:
        load_safely(path)
    assert not raised.value.holds_code and isinstance(raised.value, ValueError)
    assert str(raised.value) == (
        f"'{path}' is not a readable checkpoint (truncated, or not a torch file)"
    )


def test_a_run_folder_stands_for_its_best_checkpoint_else_its_last(tmp_path):
    assert run_checkpoint(tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch=1-step=8.ckpt").write_bytes(b"")
    assert run_checkpoint(tmp_path) is None  # only best and last stand for the run
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert run_checkpoint(tmp_path) == tmp_path / "checkpoints" / "last.ckpt"
    (tmp_path / "checkpoints" / "best.ckpt").write_bytes(b"")
    assert run_checkpoint(tmp_path) == tmp_path / "checkpoints" / "best.ckpt"
