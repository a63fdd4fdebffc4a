"""resume=auto|PATH picks the newest good checkpoint; a damaged one is named with the good one to
use instead; one of another model is refused before training; a command whose config differs
from the stored run's is refused with each difference, unless resume.allow_changes=true."""

import os

import pytest
import torch
from omegaconf import OmegaConf

from tuneforge.errors import CheckpointError, ConfigError
from tuneforge.run.checkpoints import read_checkpoint
from tuneforge.run.config_diff import Change, comparable, differences
from tuneforge.run.resume import (
    IGNORED,
    check_fits,
    config_to_resume,
    settings,
    shorthand,
    to_resume,
)


def save(path, step: int, shape=(2, 3)) -> None:
    """A small checkpoint as `tuneforge train` writes them, `step` seconds old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {"data": {"_target_": "tests.Data"}, "model": {"_target_": "tests.Model"}}
    checkpoint = {"state_dict": {"model.w": torch.zeros(shape)}, "tuneforge": {"config": config}}
    torch.save(checkpoint | {"epoch": 0, "global_step": step}, path)
    os.utime(path, ns=(step * 10**9, step * 10**9))  # newer for a later step


def test_auto_in_a_new_folder_trains_from_the_start(tmp_path):
    assert to_resume("auto", tmp_path / "run") is None
    assert to_resume(None, tmp_path) is None


def test_auto_takes_the_newest_good_checkpoint_and_clears_unfinished_saves(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    save(checkpoints / "best.ckpt", 10)
    save(checkpoints / "last.ckpt", 20)
    unfinished = checkpoints / ".last.ckpt.x1y2.tmp"
    unfinished.write_bytes(b"half")
    path, checkpoint = to_resume("auto", tmp_path)
    assert path == checkpoints / "last.ckpt" and checkpoint["global_step"] == 20
    assert not unfinished.exists()

    (checkpoints / "last.ckpt").write_bytes(b"truncated")
    os.utime(checkpoints / "last.ckpt", ns=(30 * 10**9, 30 * 10**9))
    path, checkpoint = to_resume("auto", tmp_path)
    assert path == checkpoints / "best.ckpt" and checkpoint["global_step"] == 10


def test_a_folder_of_damaged_checkpoints_is_refused(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match=r"no checkpoint in .* is readable"):
        to_resume("auto", tmp_path)


def test_a_damaged_checkpoint_is_named_with_the_newest_good_one_beside_it(tmp_path):
    save(tmp_path / "best.ckpt", 10)
    save(tmp_path / "epoch1.ckpt", 5)
    damaged = tmp_path / "last.ckpt"
    damaged.write_bytes(b"truncated")
    with pytest.raises(CheckpointError) as ex:
        to_resume(str(damaged), tmp_path)
    assert ex.value.lines == [
        f"resume '{damaged}' is not a readable checkpoint (truncated, or not a torch file); "
        f"the newest good one beside it is resume={tmp_path / 'best.ckpt'}"
    ]
    with pytest.raises(CheckpointError, match=f"newest good one beside it is ckpt_path={tmp_path}"):
        read_checkpoint(damaged)


def test_a_run_folder_resumes_from_its_newest_checkpoint(tmp_path):
    save(tmp_path / "old" / "checkpoints" / "last.ckpt", 7)
    path, _ = to_resume(str(tmp_path / "old"), tmp_path / "new")
    assert path == tmp_path / "old" / "checkpoints" / "last.ckpt"
    (tmp_path / "new").mkdir()
    with pytest.raises(CheckpointError, match="is a folder with no checkpoints"):
        to_resume(str(tmp_path / "new"), tmp_path)
    with pytest.raises(CheckpointError, match=r"'.*missing' does not exist; give resume a \.ckpt"):
        to_resume(str(tmp_path / "missing"), tmp_path)


def test_a_checkpoint_of_another_model_is_refused_before_training(tmp_path):
    save(tmp_path / "last.ckpt", 3, shape=(4, 3))
    task = torch.nn.Module()
    task.model = torch.nn.Module()
    task.model.w = torch.nn.Parameter(torch.zeros(2, 3))
    _, checkpoint = to_resume(str(tmp_path / "last.ckpt"), tmp_path)
    with pytest.raises(CheckpointError, match=r"model.w: \(4, 3\) there, \(2, 3\) here"):
        check_fits(task, checkpoint, tmp_path / "last.ckpt")


def test_differences_name_each_nested_key_with_its_old_and_new_value():
    before = {
        "optimizer": {"lr": 0.003, "betas": [0.9, 0.999], "amsgrad": False},
        "trainer": {"max_epochs": 1, "limit_train_batches": None},
        "augmentation": {"train": [{"p": 0.5}, {"size": 28}]},
        "gone": {"x": 1},
        "milestones": [1, 2],
    }
    after = {
        "optimizer": {"lr": 0.5, "betas": [0.8, 0.999], "amsgrad": 0},
        "trainer": {"max_epochs": 1.0, "limit_train_batches": 3},
        "augmentation": {"train": [{"p": 0.5}, {"size": 32}]},
        "milestones": [1, 2, 3],
        "added": "yes",
    }
    assert [str(change) for change in differences(before, after)] == [
        "optimizer.lr: 0.003 -> 0.5",
        "optimizer.betas[0]: 0.9 -> 0.8",
        "optimizer.amsgrad: false -> 0",  # a bool is not the number it equals
        "trainer.limit_train_batches: null -> 3",  # 1 and 1.0 are one value
        "augmentation.train[1].size: 28 -> 32",
        "gone: {x: 1} -> absent",
        "milestones: [1, 2] -> [1, 2, 3]",
        "added: absent -> yes",
    ]
    assert differences(before, before) == []


def test_run_folders_hydra_resume_callbacks_and_loggers_are_no_difference():
    def config(folder: str, **more) -> dict:
        return {
            "paths": {"output_dir": folder, "data_dir": "data"},
            "callbacks": {"ckpt": {"dirpath": f"{folder}/checkpoints"}, "bar": {"rate": 1}},
            "logger": {"tb": {"save_dir": folder}},
            "data": {"root": "data/mnist", "cache": f"{folder}/cache"},
            "resume": {"from": None},
        } | more

    before = comparable(config("/runs/a"), IGNORED)
    assert before == {
        "data": {"root": "${paths.data_dir}/mnist", "cache": "${paths.output_dir}/cache"}
    }
    later = config("/runs/b", resume={"from": "auto"}, hydra={"job": "x"})
    later["callbacks"]["bar"]["rate"] = 0
    assert differences(before, comparable(later, IGNORED)) == []


def stored(run_dir, **changed) -> tuple:
    """A run's last checkpoint as `to_resume` reads it, holding the config the run trained with,
    and that config with `changed` keys (dotted) as a command composes it to resume it."""
    config = {
        "seed": 42,
        "tune": None,
        "optimizer": {"_target_": "torch.optim.AdamW", "lr": 0.003},
        "trainer": {"max_epochs": 1},
        "finetune": {"strategy": None},
        "callbacks": {"ckpt": {"dirpath": f"{run_dir}/checkpoints"}},
        "paths": {"output_dir": str(run_dir)},
        "resume": {"from": None, "allow_changes": False},
    }
    checkpoint = {"state_dict": {}, "tuneforge": {"config": config}, "epoch": 1, "global_step": 3}
    cfg = OmegaConf.create(config)
    cfg.resume = {"from": "auto", "allow_changes": False}
    for key, value in changed.items():
        OmegaConf.update(cfg, key, value)
    return (run_dir / "checkpoints" / "last.ckpt", checkpoint), cfg


def test_a_resume_with_the_stored_config_has_no_changes(tmp_path):
    resumed, cfg = stored(tmp_path)
    assert config_to_resume(cfg, resumed, tmp_path) == (cfg, [])
    assert config_to_resume(cfg, None, tmp_path) == (cfg, [])


def test_changed_values_are_refused_in_one_line_unless_allowed(tmp_path):
    resumed, cfg = stored(tmp_path, **{"optimizer.lr": 0.5, "trainer.max_epochs": 2})
    with pytest.raises(ConfigError) as ex:
        config_to_resume(cfg, resumed, tmp_path)
    assert ex.value.lines == [
        f"resume=auto: the config differs from the run in '{resumed[0]}': optimizer.lr: "
        "0.003 -> 0.5, trainer.max_epochs: 1 -> 2; resume with its values, add "
        "resume.allow_changes=true to train on with these, or start afresh with resume=null"
    ]
    cfg.resume.allow_changes = True
    taken, changes = config_to_resume(cfg, resumed, tmp_path)
    assert taken.optimizer.lr == 0.5
    assert changes == [Change("optimizer.lr", 0.003, 0.5), Change("trainer.max_epochs", 1, 2)]


def test_what_a_resumed_run_cannot_take_is_refused_even_when_changes_are_allowed(tmp_path):
    changed = {"seed": 1, "optimizer._target_": "torch.optim.SGD", "finetune.strategy": "lora"}
    resumed, cfg = stored(tmp_path, **changed, **{"resume.allow_changes": True})
    with pytest.raises(ConfigError) as ex:
        config_to_resume(cfg, resumed, tmp_path)
    (line,) = ex.value.lines
    assert line.startswith(
        "resume=auto: seed: 42 -> 1 (the random states come back from the checkpoint), "
        "optimizer._target_: torch.optim.AdamW -> torch.optim.SGD (another class cannot take "
        "the state restored for this one), finetune.strategy: null -> lora (it decides which"
    )
    assert line.endswith("give it the stored value again, or start afresh with resume=null")


def test_a_tuned_run_resumes_with_the_value_found_where_the_command_tunes_the_same(tmp_path):
    resumed, cfg = stored(tmp_path, tune="lr")
    tuned = resumed[1]["tuneforge"]["config"]
    tuned["tune"], tuned["optimizer"]["lr"] = "lr", 0.0123
    taken, changes = config_to_resume(cfg, resumed, tmp_path)
    assert (taken.optimizer.lr, changes) == (0.0123, [])
    assert cfg.optimizer.lr == 0.003  # the command's own config is left as it was


def test_resume_is_short_for_resume_from_on_the_command_line():
    args = ["resume=auto", "+resume=x.ckpt", "resume.allow_changes=true", "resume={from: a}"]
    assert shorthand([*args, "hydra.run.dir=resume=1"]) == [
        "resume.from=auto",
        "+resume.from=x.ckpt",
        "resume.allow_changes=true",
        "resume={from: a}",
        "hydra.run.dir=resume=1",
    ]
    assert settings(OmegaConf.create({"resume": {"from": "auto", "allow_changes": True}})) == (
        "auto",
        True,
    )
    assert settings(OmegaConf.create({"resume": "last.ckpt"})) == ("last.ckpt", False)
    assert settings(OmegaConf.create({})) == (None, False)
