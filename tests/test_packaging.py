"""`pip install .` ships every module and every config: an installed `tuneforge` works anywhere."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("tuneforge-*.whl")
    return path


def test_wheel_holds_every_module_and_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    src = REPO / "src"
    modules = {str(p.relative_to(src)) for p in src.rglob("*.py")}
    configs = {
        "tuneforge/conf/" + str(p.relative_to(REPO / "conf"))
        for p in (REPO / "conf").rglob("*.yaml")
    }
    assert modules <= names
    assert configs <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    entries = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "tuneforge = tuneforge.cli.main:command" in entries


def test_installed_wheel_composes_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import tuneforge, sys; print(tuneforge.__file__);"
        "from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper;"
        "print([s.__module__ for s in Plugins.instance().discover(Sweeper)]);"
        "import hydra_plugins.tuneforge_sweeper as p; print(p.__file__);"
        "from tuneforge.cli.main import main; main(['train', '--cfg', 'job', 'model=mlp'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(target))  # the wheel's copy, not the checkout
    # Hydra finds tuneforge's sweeper in the wheel's hydra_plugins namespace package
    assert "hydra_plugins.tuneforge_sweeper.optuna_sweeper" in result.stdout.splitlines()[1]
    assert result.stdout.splitlines()[2].startswith(str(target))
    assert "tuneforge.models.MLP" in result.stdout
