"""build() in-process, without Hydra's global state: what it wires and what it refuses."""

import pytest

from tuneforge.cli.build import build
from tuneforge.cli.errors import ConfigError
from tuneforge.tasks import ClassificationTask

from ..conftest import compose_config


def test_build_sizes_the_model_from_the_data(tmp_path):
    built = build(compose_config("train", ["model=mlp"]), tmp_path)
    assert isinstance(built.task, ClassificationTask)
    assert built.model.get_classifier().out_features == 10
    assert built.config["paths"]["output_dir"] == str(tmp_path)


def test_mixup_reaches_the_task_and_trains(tmp_path):
    cfg = compose_config("train", ["augmentation.mixup_alpha=0.2", "debug=fast"])
    built = build(cfg, tmp_path)
    assert built.task.batch_transform is not None
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert built.trainer.global_step == 1


def test_mixup_on_regression_data_is_refused(tmp_path):
    rows = "\n".join(f"{i / 7:.3f},{i * 0.5 + 1}" for i in range(60))
    (tmp_path / "t.csv").write_text("x,y\n" + rows + "\n")
    overrides = ["data=csv", f"data.path={tmp_path / 't.csv'}", "data.target=y", "model=mlp"]
    overrides += ["task=regression", "monitor.metric=val/mse", "monitor.mode=min"]
    with pytest.raises(ConfigError, match="mix class labels"):
        build(compose_config("train", [*overrides, "augmentation.cutmix_alpha=1.0"]), tmp_path)
    assert build(compose_config("train", overrides), tmp_path).task.target_std > 0
