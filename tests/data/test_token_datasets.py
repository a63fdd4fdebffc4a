"""Next-token windows over a file of ids: shapes, the shift by one, seeded draws, resuming."""

import pickle

import numpy as np
import pytest
import torch

from tuneforge.data.token_datasets import ConsecutiveBlocks, RandomBlocks, spread_sample


@pytest.fixture
def ids(tmp_path):
    path = tmp_path / "ids.bin"
    np.arange(500, dtype=np.uint16).tofile(path)
    return path


def test_consecutive_blocks_lie_side_by_side_and_y_is_x_shifted(ids):
    blocks = ConsecutiveBlocks(ids, np.uint16, block_size=16)
    assert len(blocks) == (500 - 1) // 16
    first_x, first_y = blocks[0]
    second_x, _ = blocks[1]
    assert first_x.dtype == first_y.dtype == torch.int64
    assert first_x.tolist() == list(range(16)) and first_y.tolist() == list(range(1, 17))
    assert second_x.tolist() == list(range(16, 32))  # no overlap
    assert blocks[len(blocks) - 1][1].shape == (16,)  # the last window is whole
    with pytest.raises(IndexError):
        blocks[len(blocks)]


def test_a_spread_sample_runs_evenly_from_the_first_window_to_the_last(ids):
    blocks = ConsecutiveBlocks(ids, np.uint16, block_size=16)  # 31 windows
    sample = spread_sample(blocks, 4)
    assert [int(sample[i][0][0]) for i in range(len(sample))] == [0, 160, 320, 480]
    assert spread_sample(blocks, 31) is blocks and spread_sample(blocks, 99) is blocks


def test_random_blocks_make_an_epoch_of_shifted_windows(ids):
    blocks = RandomBlocks(ids, np.uint16, block_size=8, length=12)
    assert len(blocks) == 12
    for index in range(12):
        x, y = blocks[index]
        assert x.shape == y.shape == (8,)
        assert torch.equal(x[1:], y[:-1]) and y[-1] == x[-1] + 1  # ids here count up by one


def test_training_windows_are_seeded(ids):
    windows = []
    for _ in range(2):
        torch.manual_seed(7)
        blocks = RandomBlocks(ids, np.uint16, block_size=8, length=5)
        windows.append([blocks[i][0] for i in range(5)])
    assert all(torch.equal(a, b) for a, b in zip(*windows, strict=True))
    assert not torch.equal(windows[0][0], windows[0][1])


def test_random_blocks_resume_their_window_draws(ids):
    blocks = RandomBlocks(ids, np.uint16, block_size=8, length=10)
    [blocks[i] for i in range(3)]
    state = blocks.state_dict()
    expected = [blocks[i][0].tolist() for i in range(3)]
    again = RandomBlocks(ids, np.uint16, block_size=8, length=10)
    again.load_state_dict(state)
    assert [again[i][0].tolist() for i in range(3)] == expected


def test_a_pickled_dataset_maps_the_file_again_instead_of_carrying_the_ids(ids):
    blocks = ConsecutiveBlocks(ids, np.uint16, block_size=16)
    assert len(blocks) > 0  # the ids are mapped now
    copied = pickle.loads(pickle.dumps(blocks))
    assert copied._ids is None
    assert torch.equal(copied[3][0], blocks[3][0])
