"""The `tuneforge` command: verbs, Hydra's flags after the verb, and no torch for --help."""

import subprocess
import sys

import pytest

from ..conftest import run_tuneforge


def test_help_lists_the_verbs(tmp_path):
    result = run_tuneforge("--help", cwd=tmp_path)
    assert result.returncode == 0
    for verb in ("train", "eval", "predict"):
        assert f"  {verb} " in result.stdout


def test_verb_help_shows_config_groups(tmp_path):
    result = run_tuneforge("train", "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "tuneforge train" in result.stdout
    groups = ("data: chat, cifar10, csv, digits", "model: cnn, gpt, hf_causal_lm")
    groups += ("task: causal_lm, classification, language",)
    for group in (*groups, "experiment: digits_cnn"):
        assert group in result.stdout


def test_cfg_job_prints_the_composed_config_with_overrides(tmp_path):
    result = run_tuneforge("train", "--cfg", "job", "model=mlp", "optimizer.lr=0.01", cwd=tmp_path)
    assert result.returncode == 0
    assert "_target_: tuneforge.models.MLP" in result.stdout
    assert "lr: 0.01" in result.stdout
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    "argv", [["--help"], ["train", "--help"], ["train", "--cfg", "job"], ["list", "model"]]
)
def test_quick_answers_do_not_import_torch_or_lightning(argv, tmp_path):
    code = (
        "import sys\n"
        "from tuneforge.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'lightning') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert "HEAVY []" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        (["train", "--cfg", "job", "seed=5"], 0, "seed: 5"),
        (["nosuchverb"], 2, "error: unknown verb 'nosuchverb'"),  # main's status, its one line
    ],
)
def test_python_dash_m_runs_the_same_command(tmp_path, args, status, said):
    result = subprocess.run(
        [sys.executable, "-m", "tuneforge", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == status
    assert said in result.stdout + result.stderr


@pytest.mark.slow
def test_multirun_sweeps_every_combination(tmp_path):
    result = run_tuneforge(
        "train", "-m", "seed=1,2", "debug=fast", "hydra.sweep.dir=sweep", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0", "1"]
    assert (tmp_path / "sweep" / "1" / "metrics.json").is_file()


def test_users_config_dir_adds_an_experiment_over_our_groups(tmp_path):
    experiment = tmp_path / "my_conf" / "experiment"
    experiment.mkdir(parents=True)
    (experiment / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: mlp\n\nmodel:\n  width: 48\n"
    )
    result = run_tuneforge(
        "train", "--config-dir", "my_conf", "experiment=mine", "--cfg", "job", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "tuneforge.models.MLP" in result.stdout and "width: 48" in result.stdout
