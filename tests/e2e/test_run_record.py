"""A run folder's record is trustworthy: its files are never written through a symbolic link, and
a run refused its folder (a live run holds it, resume=auto does not fit) leaves it byte for byte
as it found it, `.hydra/` and train.log included."""

import shutil

import pytest

from ..conftest import run_tuneforge
from ..run.test_lock import held
from .conftest import snapshot
from .test_bad_input import assert_one_line_error

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", [".hydra/config.yaml", "train.log"])
def test_a_record_file_that_links_out_of_the_folder_is_refused(tmp_path, name):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"someone else's file\n")
    run_dir = tmp_path / "run"
    (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / name).symlink_to(outside)
    result = run_tuneforge("train", "debug=limit", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert_one_line_error(result, 5, [f"symbolic link at {name} (to '{outside}')", "hydra.run.dir"])
    assert outside.read_bytes() == b"someone else's file\n"
    assert (run_dir / name).is_symlink()
    assert [p for p in run_dir.rglob("*") if p.is_file() and not p.is_symlink()] == []


def test_a_folder_held_by_a_live_run_is_left_byte_for_byte(default_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(default_run, run_dir)
    with held(run_dir):
        before = snapshot(run_dir)  # the holder's lock file too
        result = run_tuneforge(
            "train", "resume=auto", "seed=7", f"hydra.run.dir={run_dir}", cwd=tmp_path
        )
        after = snapshot(run_dir)
    assert_one_line_error(result, 5, ["is held by a `tuneforge train` that is still running"])
    assert after == before


def test_a_resume_that_does_not_fit_leaves_the_folder_byte_for_byte(default_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(default_run, run_dir)
    before = snapshot(run_dir)
    result = run_tuneforge(
        "train", "resume=auto", "model=mlp", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert result.returncode in (2, 4), result.stderr  # the config's keys, or the weights
    assert result.stderr.count("error:") == 1, result.stderr
    assert "resume" in result.stderr
    assert snapshot(run_dir) == before
