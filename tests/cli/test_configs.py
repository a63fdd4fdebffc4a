"""Every option of every config group composes and binds; every experiment runs one batch."""

import pytest

from tuneforge.cli.build import build
from tuneforge.cli.main import config_dir
from tuneforge.cli.validate import TRAIN_SCHEMA, validate

from ..conftest import FASHION_MNIST_ROOT, compose_config

CONF = config_dir()
GROUPS = sorted(
    p.name for p in CONF.iterdir() if p.is_dir() and p.name not in {"hydra", "__pycache__"}
)
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
# Options whose required (???) keys a user must set on the command line.
REQUIRED = {
    ("data", "csv"): ["data.path=table.csv", "data.target=label"],
    ("data", "image_folder"): ["data.root=images"],
}
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_groups_the_product_promises_exist():
    promised = {"data", "augmentation", "model", "optimizer", "scheduler", "trainer", "callbacks"}
    promised |= {"logger", "paths", "finetune", "hparams_search", "experiment", "debug"}
    assert promised <= set(GROUPS)
    assert (CONF / "hydra" / "default.yaml").is_file()


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_binds(group, option, tmp_path):
    required = REQUIRED.get((group, option), [])
    cfg = compose_config("train", [f"{group}={option}", f"paths.output_dir={tmp_path}", *required])
    validate(cfg, TRAIN_SCHEMA)


@pytest.mark.parametrize("path", sorted(CONF.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_config_file_opens_with_what_it_is(path):
    first = path.read_text().splitlines()[0]
    if first == "# @package _global_" or first == "# @package hydra":
        first = path.read_text().splitlines()[1]
    assert first.startswith("# ") and len(first) > 20, f"{path} needs a header comment"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_one_batch(experiment, tmp_path):
    cfg = compose_config(
        "train",
        [
            f"experiment={experiment}",
            "debug=fast",
            f"paths.output_dir={tmp_path}",
            f"paths.data_dir={FASHION_MNIST_ROOT}",  # image sets read offline from here
        ],
    )
    built = build(cfg, tmp_path)
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert built.trainer.global_step == 1
