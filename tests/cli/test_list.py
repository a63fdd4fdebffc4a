"""`tuneforge list`: the shipped config groups, their choices with header and command, where a
shipped file is and how a copy of it is used; and `train --help`'s sweep groups."""

import re
import shlex
import shutil
import subprocess

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tuneforge.configs import config_dir

from ..conftest import run_tuneforge

CONF = config_dir()


def rows(stdout: str) -> list[list[str]]:
    """The cells of each line of a Rich table printed to a pipe (one line a row)."""
    return [[c.strip() for c in line.strip("│").split("│")] for line in stdout.splitlines()]


def test_list_names_every_config_folder_with_its_number_of_choices(tmp_path):
    result = run_tuneforge("list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {cells[0]: int(cells[1]) for cells in rows(result.stdout) if cells[-1].isdigit()}
    folders = [d for d in CONF.rglob("*") if d.is_dir() and d.name != "__pycache__"]
    assert listed == {d.relative_to(CONF).as_posix(): len(list(d.glob("*.yaml"))) for d in folders}
    assert listed["hydra/launcher"] >= 2 and listed["model"] >= 10


@pytest.mark.parametrize("group", ["model", "experiment", "hydra/launcher", "hydra/sweeper"])
def test_list_group_shows_each_choice_with_its_header_and_command(group, tmp_path):
    result = run_tuneforge("list", group, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = rows(result.stdout)
    files = sorted((CONF / group).glob("*.yaml"))
    assert [cells[0] for cells in shown if len(cells) == 2 and cells[0]] == [f.stem for f in files]
    for path in files:
        text = path.read_text()
        first = next(line for line in text.splitlines() if not line.startswith("# @package"))
        command = re.search(r"Run: (.+)", text).group(1).strip()
        row = next(i for i, cells in enumerate(shown) if cells[0] == path.stem)
        assert shown[row][1].startswith(first.removeprefix("# ")[:40]), shown[row]
        assert shown[row + 1] == ["", command]
        assert f"{group}={path.stem}" in command


def test_path_prints_the_shipped_file_and_how_to_use_a_copy(tmp_path):
    result = run_tuneforge("list", "--path", "model/cnn", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{CONF / 'model' / 'cnn.yaml'}\n"
    assert "--config-dir my_conf model=my_cnn" in result.stderr


def test_a_copied_out_changed_config_is_what_train_uses(tmp_path):
    """The hint of --path, followed as written: the copy, edited, is the model a run composes."""
    hint = run_tuneforge("list", "--path", "model/cnn", cwd=tmp_path).stderr
    copy, _, train = hint.split(": ", 1)[1].strip().partition(" && tuneforge ")
    subprocess.run(["bash", "-c", copy], cwd=tmp_path, check=True)
    mine = tmp_path / "my_conf" / "model" / "my_cnn.yaml"
    assert "\nwidth: 32\n" in mine.read_text()
    mine.write_text(mine.read_text().replace("\nwidth: 32\n", "\nwidth: 7\n"))
    result = run_tuneforge(*shlex.split(train), "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "_target_: tuneforge.models.CNN\n  width: 7\n" in result.stdout
    shutil.rmtree(tmp_path / "my_conf")
    assert run_tuneforge(*shlex.split(train), "--cfg", "job", cwd=tmp_path).returncode != 0


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["modle"], "model"),
        (["hydra/launchr"], "hydra/launcher"),
        (["--path", "model/cnm"], "model/cnn"),
    ],
)
def test_a_typo_is_one_line_with_what_was_meant(args, meant, tmp_path):
    result = run_tuneforge("list", *args, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ") and f"(did you mean {meant}" in result.stderr


def test_train_help_lists_the_launchers_and_sweepers_hydra_finds(tmp_path):
    """The help names them itself (Hydra's own list of its groups is mostly internals): the
    choices it names must be those Hydra finds, plugins' and conf/'s alike."""
    result = run_tuneforge("train", "--help", cwd=tmp_path)
    with initialize_config_dir(str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for group in ("hydra/launcher", "hydra/sweeper"):
            line = f"\n{group}: {', '.join(sorted(loader.get_group_options(group)))}\n"
            assert line in result.stdout
