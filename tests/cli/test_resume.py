"""resume=auto|PATH picks the newest good checkpoint; a damaged one is named with the good one to
use instead; one of another model is refused before training."""

import os

import pytest
import torch

from tuneforge.cli._checkpoint import read_checkpoint
from tuneforge.cli._resume import check_fits, to_resume
from tuneforge.cli.errors import CheckpointError


def save(path, step: int, shape=(2, 3)) -> None:
    """A small checkpoint as `tuneforge train` writes them, `step` seconds old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {"state_dict": {"model.w": torch.zeros(shape)}, "tuneforge": {"config": {}}}
    torch.save(checkpoint | {"epoch": 0, "global_step": step}, path)
    os.utime(path, ns=(step * 10**9, step * 10**9))  # newer for a later step


def test_auto_in_a_new_folder_trains_from_the_start(tmp_path):
    assert to_resume("auto", tmp_path / "run") is None
    assert to_resume(None, tmp_path) is None


def test_auto_takes_the_newest_good_checkpoint_and_clears_unfinished_saves(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    save(checkpoints / "best.ckpt", 10)
    save(checkpoints / "last.ckpt", 20)
    unfinished = checkpoints / ".last.ckpt.x1y2.tmp"
    unfinished.write_bytes(b"half")
    path, checkpoint = to_resume("auto", tmp_path)
    assert path == checkpoints / "last.ckpt" and checkpoint["global_step"] == 20
    assert not unfinished.exists()

    (checkpoints / "last.ckpt").write_bytes(b"truncated")
    os.utime(checkpoints / "last.ckpt", ns=(30 * 10**9, 30 * 10**9))
    path, checkpoint = to_resume("auto", tmp_path)
    assert path == checkpoints / "best.ckpt" and checkpoint["global_step"] == 10


def test_a_folder_of_damaged_checkpoints_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match=r"no checkpoint in .* is readable"):
        to_resume("auto", tmp_path)


def test_a_damaged_checkpoint_is_named_with_the_newest_good_one_beside_it(tmp_path):
    save(tmp_path / "best.ckpt", 10)
    save(tmp_path / "epoch1.ckpt", 5)
    damaged = tmp_path / "last.ckpt"
    damaged.write_bytes(b"truncated")
    with pytest.raises(CheckpointError) as ex:
        to_resume(str(damaged), tmp_path)
    assert ex.value.lines == [
        f"resume '{damaged}' is not a readable checkpoint (truncated, or not a torch file); "
        f"the newest good one beside it is resume={tmp_path / 'best.ckpt'}"
    ]
    with pytest.raises(CheckpointError, match=f"newest good one beside it is ckpt_path={tmp_path}"):
        read_checkpoint(damaged)


def test_a_run_folder_resumes_from_its_newest_checkpoint(tmp_path):
    save(tmp_path / "old" / "checkpoints" / "last.ckpt", 7)
    path, _ = to_resume(str(tmp_path / "old"), tmp_path / "new")
    assert path == tmp_path / "old" / "checkpoints" / "last.ckpt"
    (tmp_path / "new").mkdir()
    with pytest.raises(CheckpointError, match="is a folder with no checkpoints"):
        to_resume(str(tmp_path / "new"), tmp_path)
    with pytest.raises(CheckpointError, match=r"'.*missing' does not exist; give resume a \.ckpt"):
        to_resume(str(tmp_path / "missing"), tmp_path)


def test_a_checkpoint_of_another_model_is_refused_before_training(tmp_path):
    save(tmp_path / "last.ckpt", 3, shape=(4, 3))
    task = torch.nn.Module()
    task.model = torch.nn.Module()
    task.model.w = torch.nn.Parameter(torch.zeros(2, 3))
    _, checkpoint = to_resume(str(tmp_path / "last.ckpt"), tmp_path)
    with pytest.raises(CheckpointError, match=r"model.w: \(4, 3\) there, \(2, 3\) here"):
        check_fits(task, checkpoint, tmp_path / "last.ckpt")
