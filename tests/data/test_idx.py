"""Reading IDX files, the format MNIST and Fashion-MNIST ship in, gzipped or not."""

import numpy as np
import pytest

from tuneforge.data.idx import find_idx, read_idx

from ._idx_files import write_idx


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
    write_idx(tmp_path / "x.idx", array, compress)
    path = tmp_path / "x.idx"
    if compress:
        path = path.rename(tmp_path / "x.idx.gz")
    assert np.array_equal(read_idx(path), array)


def test_read_idx_refuses_damaged_files(tmp_path):
    write_idx(tmp_path / "cut", np.zeros((4, 28, 28)), False)
    (tmp_path / "cut").write_bytes((tmp_path / "cut").read_bytes()[:-10])
    with pytest.raises(ValueError, match="cut short"):
        read_idx(tmp_path / "cut")
    (tmp_path / "text").write_text("hello, world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "text")


def test_a_file_is_found_gzipped_or_plain_in_the_root_or_a_subfolder(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "labels.gz").write_bytes(b"")
    (tmp_path / "images").write_bytes(b"")
    assert find_idx(tmp_path, "labels", ("raw",)) == tmp_path / "raw" / "labels.gz"
    assert find_idx(tmp_path, "images", ("raw",)) == tmp_path / "images"
    assert find_idx(tmp_path, "missing", ("raw",)) is None
