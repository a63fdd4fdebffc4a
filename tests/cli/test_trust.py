"""A checkpoint's stored config builds only targets from trusted packages or the user's configs."""

from tuneforge.cli._trust import targets, untrusted, user_config_targets

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


def test_only_targets_outside_the_trusted_packages_are_named():
    assert untrusted(CONFIG) == ["my_lab.transforms.Jitter", "os.system"]


def test_a_target_the_users_own_config_folder_names_is_trusted(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.yaml").write_text(
        "transforms:\n  - _target_: my_lab.transforms.Jitter\n"
    )
    (tmp_path / "broken.yaml").write_text("key: [unclosed\n")  # read past, trusts nothing
    assert user_config_targets([tmp_path]) == {"my_lab.transforms.Jitter"}
    assert untrusted(CONFIG, [tmp_path]) == ["os.system"]
