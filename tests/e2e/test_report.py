"""plots/ at the end of every training run, after a failure and Ctrl-C too; `tuneforge report` on
a run, an unfinished run and an Optuna sweep; bad folders are one line each."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO, TUNEFORGE, default_sigint, run_tuneforge
from ..sweeps import TINY

PNG = b"\x89PNG\r\n\x1a\n"
# One epoch of 6 steps, each logged; validation and test on 2 batches.
QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=6",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.log_every_n_steps=1",
    "callbacks.progress_bar.refresh_rate=0",
    "trainer.enable_model_summary=false",
]
HOOKS = "tests.e2e._hooks"  # callbacks that stop a run at an exact step


def train_with_hooks(run_dir: Path, *args: str, **popen) -> subprocess.Popen:
    """`tuneforge train` in `run_dir` in a process of its own that imports the hooks."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    command = [str(TUNEFORGE), "train", *QUICK, *args, f"hydra.run.dir={run_dir}"]
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(
        command, cwd=run_dir.parent, env=env, text=True, preexec_fn=default_sigint, **popen
    )


def assert_pngs(folder: Path, names: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == names
    assert all((folder / name).read_bytes().startswith(PNG) for name in names)


def report(folder: Path) -> subprocess.CompletedProcess:
    return run_tuneforge("report", str(folder), cwd=folder.parent)


@pytest.mark.slow
def test_a_finished_run_has_its_plots_and_a_report_that_shows_them(default_run, tmp_path):
    drawn = ["loss", "metrics", "lr"]
    if (default_run / "confusion_matrix.csv").exists():  # where the run's callbacks write it
        drawn.append("confusion_matrix")
    assert_pngs(default_run / "plots", {f"{name}.png" for name in drawn})
    run_dir = tmp_path / "run"
    shutil.copytree(default_run, run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())

    result = report(run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{metrics['params']:,}" in result.stdout
    markdown = (run_dir / "report.md").read_text()
    assert f"| parameters | {metrics['params']:,} |" in markdown
    assert (
        "| model | cnn (CNN) |" in markdown and "| data | digits (DigitsDataModule) |" in markdown
    )
    assert f"| test/acc | {metrics['test/acc']:.4g} |  |" in markdown
    assert "| val/acc | " in markdown and f"{metrics['best/val/acc']:.4g} (epoch " in markdown
    images = [line[line.index("(") + 1 : -1] for line in markdown.splitlines() if line[:2] == "!["]
    assert images == [f"plots/{name}.png" for name in drawn]
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == [".hydra"]


@pytest.mark.slow
def test_a_run_that_fails_is_plotted_from_what_it_logged_and_reported_as_unfinished(tmp_path):
    run_dir = tmp_path / "run"
    nan = [f"+callbacks.nan._target_={HOOKS}.NaNBatchAt", "+callbacks.nan.steps=[4]"]
    with train_with_hooks(run_dir, *nan, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as run:
        stderr = run.stderr.read()
    assert run.returncode == 6
    assert len([line for line in stderr.splitlines() if line.startswith("error:")]) == 1
    assert "the training loss was nan at step 4" in stderr  # the run's error, not masked
    assert_pngs(run_dir / "plots", {"loss.png", "lr.png"})

    result = report(run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    note = "The run did not finish (no metrics.json): this report shows what it logged."
    assert note in result.stdout and note in (run_dir / "report.md").read_text()
    assert "| train/loss | " in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_a_run_stopped_with_ctrl_c_is_plotted(tmp_path):
    run_dir = tmp_path / "run"
    pause = [f"+callbacks.pause._target_={HOOKS}.PauseAt", "+callbacks.pause.step=3"]
    with train_with_hooks(
        run_dir, *pause, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as process:
        try:
            assert any(line.startswith("PAUSED step 3") for line in process.stdout)
        finally:
            process.send_signal(signal.SIGINT)  # as Ctrl-C does
            process.stdout.read()
    assert process.returncode != 0
    assert_pngs(run_dir / "plots", {"loss.png", "lr.png"})
    assert not (run_dir / "metrics.json").exists()


@pytest.mark.slow
def test_an_optuna_sweep_reports_its_trials_best_first_with_their_states(tmp_path):
    sweep = run_tuneforge(
        "train",
        "hparams_search=digits_cnn",
        "hparams_search.n_trials=2",
        "hparams_search.sampler=grid",
        "optimizer.lr=0.003",
        "model.dropout=choice(0.1,2.0)",  # a dropout of 2 is refused: that trial fails
        *TINY,
        "trainer.max_epochs=1",
        "test=false",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    sweep_dir = tmp_path / "multirun" / "train" / "digits_cnn"
    result = report(sweep_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    markdown = (sweep_dir / "report.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "dropout" in line]
    assert len(rows) == 2
    assert rows[0].startswith("| best | ") and "| complete | " in rows[0]
    assert rows[1].startswith("|  | ") and "| fail |  | model.dropout=2.0 |" in rows[1]
    assert "2 trials (Optuna sweeper), val/acc (maximize), best first." in result.stdout


def _only_error(result) -> str:
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    return line


def test_a_folder_that_does_not_exist_is_one_line(tmp_path):
    result = run_tuneforge("report", "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert _only_error(result) == (
        "error: nowhere does not exist; name a run folder (outputs/train/DATE_TIME) or a sweep "
        "folder (multirun/train/NAME)"
    )


def test_a_folder_that_is_no_run_nor_sweep_is_one_line(tmp_path):
    (tmp_path / "multirun" / "train").mkdir(parents=True)
    result = run_tuneforge("report", "multirun", cwd=tmp_path)
    assert result.returncode == 2
    assert _only_error(result).startswith(
        "error: multirun is not a run folder (no .hydra/config.yaml) nor a sweep folder"
    )
    assert not (tmp_path / "multirun" / "report.md").exists()


def test_a_run_that_logged_nothing_is_one_line(tmp_path):
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("seed: 1\n")
    result = run_tuneforge("report", "run", cwd=tmp_path)
    assert result.returncode == 3
    assert _only_error(result) == (
        "error: run has no metrics.json and no logged metrics (TensorBoard events or "
        "csv/metrics.csv): the run stopped before it logged anything, or logged with "
        "logger=none; train it again with logger=tensorboard or csv and report that run"
    )
    assert not (tmp_path / "run" / "report.md").exists()


def test_a_file_that_cannot_be_read_is_named_in_one_line(tmp_path):
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (tmp_path / "run" / "metrics.json").write_text('{"params": 1')
    result = run_tuneforge("report", "run", cwd=tmp_path)
    assert result.returncode == 3
    assert _only_error(result).startswith("error: cannot read run/metrics.json (Expecting")
    assert _only_error(result).endswith("); fix or remove that file, or report another folder")


def test_report_loads_no_torch_where_metrics_json_holds_the_parameter_count(tmp_path):
    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    (tmp_path / "run" / ".hydra" / "config.yaml").write_text("seed: 1\n")
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"params": 10, "test/acc": 0.5}))
    check = (
        "import sys\n"
        "from tuneforge.cli.main import main\n"
        "main(['report', 'run'])\n"
        "print(sorted({'torch', 'lightning', 'matplotlib'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "[]"
    assert "| parameters | 10 |" in (tmp_path / "run" / "report.md").read_text()
