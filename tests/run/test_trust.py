"""A checkpoint's stored config builds only the exact targets that tuneforge's configs or the
user's own config files name, and never decides where a verb writes."""

from pathlib import Path

from omegaconf import OmegaConf

from tuneforge.configs import config_dir
from tuneforge.run.confine import confined
from tuneforge.run.trust import shipped_targets, targets, untrusted, user_config_targets

CONFIG = {
    "model": {"_target_": "tuneforge.models.CNN", "width": 8},
    "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True},
    "callbacks": [{"_target_": "lightning.pytorch.callbacks.ModelCheckpoint"}],
    "data": {"transforms": [{"_target_": "my_lab.transforms.Jitter"}]},
    "trainer": {"plugins": [{"_target_": "os.system", "command": "touch pwned"}]},
}


def test_every_target_is_found_however_deep():
    assert set(targets(CONFIG)) == {
        "tuneforge.models.CNN",
        "torch.optim.AdamW",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "my_lab.transforms.Jitter",
        "os.system",
    }


def test_only_targets_that_no_config_names_are_refused():
    assert untrusted(CONFIG) == ["my_lab.transforms.Jitter", "os.system"]


def test_a_trusted_package_is_no_longer_enough():
    """Names under tuneforge, torch or lightning that no shipped config names are refused: the
    packages hold shell, file and code-loading callables, and attributes walk to any module."""
    for name in (
        "torch.os.system",
        "torch.hub.load",
        "torch.save",
        "tuneforge.run.files.write_json",
        "tuneforge.data.token_datasets.os.system",
        "lightning.pytorch.cli.LightningCLI",
        "tuneforge.models.CNN.__init__",
    ):
        assert untrusted({"model": {"_target_": name}}) == [name]


def test_the_shipped_targets_are_exactly_those_conf_names_and_their_former_names():
    import yaml

    named = set()
    for path in config_dir().rglob("*.yaml"):
        named |= {t for t in targets(yaml.safe_load(path.read_text())) if isinstance(t, str)}
    assert shipped_targets() == named | {"tuneforge.cli.strategies.fsdp"}
    assert "tuneforge.run.fsdp.fsdp" in named
    assert "tuneforge.models.GPT" in named and "torch.optim.AdamW" in named


def test_targets_that_are_not_names_and_interpolations_are_refused():
    config = {
        "model": {"_target_": ["os", "system"]},
        "data": {"width": "${oc.decode:'{_target_: os.system}'}"},
    }
    assert untrusted(config) == [
        "['os', 'system']",
        "what the interpolation at data.width resolves to",
    ]


def test_a_target_the_users_own_config_folder_names_is_trusted(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.yaml").write_text(
        "transforms:\n  - _target_: my_lab.transforms.Jitter\n"
    )
    (tmp_path / "broken.yaml").write_text("key: [unclosed\n")  # read past, trusts nothing
    assert user_config_targets([tmp_path]) == {"my_lab.transforms.Jitter"}
    assert untrusted(CONFIG, [tmp_path]) == ["os.system"]


def _run_folder(folder: Path, mark: str) -> None:
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)
    (folder / ".hydra" / "config.yaml").write_text("model:\n  _target_: os.system\n")
    if mark != ".hydra":
        (folder / mark).mkdir() if mark == "checkpoints" else (folder / mark).write_text("{}")
        (folder / ".hydra" / "config.yaml").rename(folder / "config.yaml")


def test_run_folders_inside_a_config_folder_trust_nothing(tmp_path):
    """A run's own config must not vouch for its checkpoint: a folder holding .hydra/,
    checkpoints/ or metrics.json is skipped, and so is a link into one."""
    for index, mark in enumerate((".hydra", "checkpoints", "metrics.json")):
        _run_folder(tmp_path / "configs" / f"run{index}", mark)
    (tmp_path / "configs" / "link.yaml").symlink_to(
        tmp_path / "configs" / "run0/.hydra/config.yaml"
    )
    assert user_config_targets([tmp_path / "configs"]) == set()
    assert user_config_targets([tmp_path / "configs" / "run0" / ".hydra"]) == set()
    assert untrusted({"model": {"_target_": "os.system"}}, [tmp_path / "configs"]) == ["os.system"]


def test_a_rebuilt_config_writes_under_the_verbs_run_folder_and_fetches_nothing(tmp_path):
    stored = OmegaConf.create(
        {
            "paths": {"output_dir": "/elsewhere/run", "data_dir": "/elsewhere/data"},
            "hydra": {"run": {"dir": "/elsewhere/hydra"}},
            "data": {"cache_dir": "/elsewhere/cache", "download": True, "path": "text.txt"},
            "model": {
                "pretrained": True,
                "pretrained_file": "/elsewhere/weights.pth",
                "checkpoint_path": "/elsewhere/timm.pth",
                "pretrained_cfg_overlay": {"file": "/elsewhere/w.pth"},
                "blocks": [{"log_dir": "/elsewhere/logs"}],
            },
            "callbacks": {"model_checkpoint": {"dirpath": "/elsewhere/checkpoints"}},
        }
    )
    verb = OmegaConf.create({"paths": {"output_dir": "/ignored", "data_dir": "data"}})
    rebuilt = OmegaConf.to_container(confined(stored, verb, tmp_path))
    assert "hydra" not in rebuilt
    assert rebuilt["paths"] == {"output_dir": str(tmp_path), "data_dir": "data"}
    assert rebuilt["data"] == {
        "cache_dir": str(tmp_path / "rebuilt" / "cache_dir"),
        "download": False,
        "path": "text.txt",  # read, never written
    }
    assert rebuilt["model"] == {
        "pretrained": False,
        "pretrained_file": None,
        "blocks": [{"log_dir": str(tmp_path / "rebuilt" / "log_dir")}],
    }
    dirpath = rebuilt["callbacks"]["model_checkpoint"]["dirpath"]
    assert dirpath == str(tmp_path / "rebuilt" / "dirpath")
    assert "/elsewhere" not in str(rebuilt)
