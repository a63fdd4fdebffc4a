"""A real messy table (palmerpenguins) through train, eval and predict, for both kinds of target."""

import json
import shutil
from importlib import resources

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ..conftest import run_tuneforge
from .conftest import read_metrics
from .test_bad_input import assert_one_line_error

pytestmark = pytest.mark.slow

QUICK = ["trainer.max_epochs=15"]  # no model=: a table picks the MLP


@pytest.fixture
def penguins(tmp_path):
    import palmerpenguins

    path = tmp_path / "penguins.csv"
    with resources.as_file(resources.files(palmerpenguins) / "data" / "penguins.csv") as source:
        shutil.copy(source, path)
    return path


def test_classify_species_then_eval_and_predict_new_rows(penguins, tmp_path):
    run = tmp_path / "species"
    data = [f"data.path={penguins}", "data.target=species"]
    result = run_tuneforge("train", "data=csv", *data, *QUICK, f"hydra.run.dir={run}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trained = read_metrics(run)
    assert trained["test/acc"] >= 0.9
    assert "_target_: tuneforge.models.MLP" in (run / ".hydra" / "config.yaml").read_text()
    report = json.loads((run / "data_report.json").read_text())
    assert report["rows"]["read"] == 344 and report["columns"]["sex"]["missing"] == 11
    assert "sex" in result.stdout  # the report's table, printed before training

    evaluated = run_tuneforge(
        "eval", f"ckpt_path={run}", f"hydra.run.dir={tmp_path / 'ev'}", cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert read_metrics(tmp_path / "ev")["test/acc"] == trained["test/acc"]

    new_rows = pd.read_csv(penguins).drop(columns=["species"]).head(30)
    new_rows.to_csv(tmp_path / "new.csv", index=False)
    predicted = run_tuneforge(
        "predict",
        f"ckpt_path={run}",
        "predict.input=new.csv",
        f"hydra.run.dir={tmp_path / 'pr'}",
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    frame = pd.read_csv(tmp_path / "pr" / "predictions.csv")
    assert len(frame) == 30 and set(frame["label"]) <= {"adelie", "chinstrap", "gentoo"}


def test_regress_body_mass_in_grams(penguins, tmp_path):
    run = tmp_path / "mass"
    result = run_tuneforge(
        "train",
        "data=csv",
        f"data.path={penguins}",
        "data.target=body_mass_g",
        "task=regression",
        "monitor.metric=val/mse",
        "monitor.mode=min",
        *QUICK,
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = read_metrics(run)
    assert metrics["test/r2"] >= 0.6
    assert 100 < metrics["test/mae"] < 600  # grams: predictions come back in the target's units
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert "data/cleaning/text_summary" in events.Tags()["tensors"]


def test_classification_task_on_a_numeric_target_says_which_task(penguins, tmp_path):
    result = run_tuneforge(
        "train",
        "data=csv",
        f"data.path={penguins}",
        "data.target=body_mass_g",
        "model=mlp",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert_one_line_error(result, 2, ["regression data", "task=regression"])


def test_ragged_csv_names_file_and_line(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n3,4,y,5\n")
    result = run_tuneforge(
        "train",
        "data=csv",
        "data.path=bad.csv",
        "data.target=label",
        "model=mlp",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert_one_line_error(result, 3, ["bad.csv", "line 3"])
