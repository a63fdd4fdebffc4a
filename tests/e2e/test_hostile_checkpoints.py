"""Checkpoints and exported folders edited by a stranger: every verb that reads one refuses what
would run code, import, open, write or delete, before anything is built, and the test's folder is
left exactly as it was. Each payload, if it were built, would leave a mark there (a file named
PWNED, a victim file gone or changed), so the file-system checks can fail."""

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tuneforge.checkpoint_format import CHECKPOINT_KEY

from ..conftest import run_tuneforge
from .conftest import snapshot, train_small_gpt
from .test_bad_input import assert_one_line_error

pytestmark = pytest.mark.slow

VERBS = ("eval", "predict", "export", "generate")
PWNED = "PWNED"


def _pwned(tmp: Path) -> str:
    return str(tmp / PWNED)


# (case, where in the stored config the payload goes, the payload given the test's folder).
# Every target resolves, through Hydra's _locate, to a real callable that would do harm (a test
# below checks that), most of them inside the packages that a prefix rule trusted.
HOSTILE: list[tuple[str, str, Callable[[Path], Any]]] = [
    ("shell", "model", lambda t: {"_target_": "os.system", "_args_": [f"touch {_pwned(t)}"]}),
    (
        "shell through torch's attributes",
        "model",
        lambda t: {"_target_": "torch.os.system", "_args_": [f"touch {_pwned(t)}"]},
    ),
    (
        "shell through a tuneforge module",
        "model.width",
        lambda t: {
            "_target_": "tuneforge.data.token_datasets.os.system",
            "_args_": [f"touch {_pwned(t)}"],
        },
    ),
    (
        "exec through torch.builtins",
        "optimizer",
        lambda t: {"_target_": "torch.builtins.exec", "_args_": [f"open({_pwned(t)!r}, 'w')"]},
    ),
    (
        "eval",
        "scheduler",
        lambda t: {"_target_": "builtins.eval", "_args_": [f"open({_pwned(t)!r}, 'w')"]},
    ),
    (
        "subprocess through cpp_extension",
        "data.extra",
        lambda t: {
            "_target_": "torch.utils.cpp_extension.subprocess.run",
            "_args_": [["touch", _pwned(t)]],
        },
    ),
    (
        "code from a folder (torch.hub)",
        "model",
        lambda t: {
            "_target_": "torch.hub.load",
            "repo_or_dir": str(t / "hub"),
            "model": "evil",
            "source": "local",
            "trust_repo": True,
        },
    ),
    (
        "compiled code (load_inline)",
        "model",
        lambda t: {
            "_target_": "torch.utils.cpp_extension.load_inline",
            "name": "evil",
            "cpp_sources": ["int f() { return 0; }"],
            "functions": ["f"],
            "build_directory": str(t / PWNED),
        },
    ),
    (
        "pickled code (torch.load)",
        "model",
        lambda t: {"_target_": "torch.load", "f": str(t / "payload.pt"), "weights_only": False},
    ),
    ("TorchScript code", "model", lambda t: {"_target_": "torch.jit.load", "f": _pwned(t)}),
    (
        "another command line (Lightning's CLI)",
        "model",
        lambda t: {"_target_": "lightning.pytorch.cli.LightningCLI", "args": ["fit"]},
    ),
    (
        "tuneforge's own command line",
        "model",
        lambda t: {
            "_target_": "tuneforge.cli.main.main",
            "_args_": [["train", f"hydra.run.dir={_pwned(t)}"]],
        },
    ),
    (
        "write with torch.save",
        "augmentation.train",
        lambda t: [{"_target_": "torch.save", "_args_": [{"a": 1}, _pwned(t)]}],
    ),
    (
        "write with tuneforge's writer",
        "model",
        lambda t: {"_target_": "tuneforge.run.files.write_json", "_args_": [_pwned(t), {}]},
    ),
    (
        "write through a shipped model's module",
        "model",
        lambda t: {"_target_": "tuneforge.models.cnn.torch.save", "_args_": [{}, _pwned(t)]},
    ),
    (
        "make a folder",
        "model",
        lambda t: {"_target_": "torch.hub.os.makedirs", "_args_": [_pwned(t)]},
    ),
    (
        "link out of the folder",
        "model",
        lambda t: {"_target_": "torch.hub.os.symlink", "_args_": ["/", _pwned(t)]},
    ),
    (
        "rename a file",
        "model",
        lambda t: {
            "_target_": "torch.hub.os.rename",
            "_args_": [str(t / "victim" / "keep.txt"), _pwned(t)],
        },
    ),
    (
        "delete a file",
        "model",
        lambda t: {
            "_target_": "torch.serialization.os.remove",
            "_args_": [str(t / "victim" / "keep.txt")],
        },
    ),
    (
        "delete a folder",
        "model",
        lambda t: {"_target_": "torch.hub.shutil.rmtree", "_args_": [str(t / "victim")]},
    ),
    (
        "download to a file",
        "model",
        lambda t: {
            "_target_": "torch.hub.download_url_to_file",
            "url": "http://127.0.0.1:9/x",
            "dst": _pwned(t),
        },
    ),
    (
        "download into a folder",
        "model",
        lambda t: {
            "_target_": "torchvision.datasets.utils.download_url",
            "url": "http://127.0.0.1:9/x",
            "root": _pwned(t),
        },
    ),
    (
        "read a checkpoint (timm)",
        "model",
        lambda t: {"_target_": "timm.models.load_checkpoint", "checkpoint_path": _pwned(t)},
    ),
    (
        "a target decoded from an interpolation",
        "model.width",
        lambda t: "${oc.decode:'{_target_: os.system, _args_: [touch " + _pwned(t) + "]}'}",
    ),
    ("a target that is not a name", "data.extra", lambda t: {"_target_": ["os", "system"]}),
    ("a target with a trailing dot", "model", lambda t: {"_target_": "os.system."}),
    (
        "the trainer, which the verbs replace",
        "trainer.plugins",
        lambda t: [{"_target_": "os.system", "_args_": [f"touch {_pwned(t)}"]}],
    ),
]


class _Payload:
    """Unpickling this creates PWNED: what `torch.load(weights_only=False)` would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def _place(config: dict, where: str, value: Any) -> None:
    *parents, last = where.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def _lay_out(tmp: Path) -> None:
    """What the payloads would touch: a victim file and folder, a hub folder whose code creates
    PWNED on import, a pickle that creates it when loaded."""
    (tmp / "victim").mkdir()
    (tmp / "victim" / "keep.txt").write_text("mine")
    (tmp / "hub").mkdir()
    (tmp / "hub" / "hubconf.py").write_text(f"open({_pwned(tmp)!r}, 'w')\ndef evil(): pass\n")
    with (tmp / "payload.pt").open("wb") as handle:
        pickle.dump(_Payload(tmp / PWNED), handle)


def forge(source: Path, target: Path, edit: Callable[[dict], None]) -> Path:
    """A copy of the checkpoint `source` with `edit` applied to it, saved at `target`."""
    checkpoint = torch.load(source, weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, target)
    return target


@pytest.fixture(scope="module")
def hostile_checkpoints(default_run, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The test's folder, laid out, and a forged checkpoint there for every case."""
    tmp = tmp_path_factory.mktemp("hostile")
    _lay_out(tmp)
    best = default_run / "checkpoints" / "best.ckpt"
    forged = {}
    for index, (case, where, payload) in enumerate(HOSTILE):

        def edit(checkpoint, where=where, payload=payload):
            _place(checkpoint[CHECKPOINT_KEY]["config"], where, payload(tmp))

        forged[case] = forge(best, tmp / f"hostile{index}.ckpt", edit)
    return tmp, forged


def test_every_payload_names_a_real_callable(tmp_path):
    from hydra._internal.utils import _locate

    for case, _, payload in HOSTILE:
        node = payload(tmp_path)
        node = node[0] if isinstance(node, list) else node
        if (
            isinstance(node, dict)
            and isinstance(node["_target_"], str)
            and case != ("a target with a trailing dot")
        ):
            assert callable(_locate(node["_target_"])), case


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("case", [case for case, _, _ in HOSTILE])
def test_a_hostile_checkpoint_is_refused_and_touches_nothing(hostile_checkpoints, verb, case):
    tmp, forged = hostile_checkpoints
    before = snapshot(tmp)
    run_dir = tmp / "runs" / verb
    result = run_tuneforge(verb, f"ckpt_path={forged[case]}", f"hydra.run.dir={run_dir}", cwd=tmp)
    assert_one_line_error(result, 4, [f"'{forged[case]}'", "would build", "trust_config=true"])
    assert snapshot(tmp) == before  # no PWNED, the victim kept, no run folder left


def test_trust_config_true_builds_what_the_file_names(default_run, tmp_path):
    """The way out is real, and so is the danger the refusals above keep out: trusted, the
    payload runs."""
    best = default_run / "checkpoints" / "best.ckpt"
    write = {"_target_": "torch.save", "_args_": [{}, _pwned(tmp_path)]}  # Hydra blocks os.system
    forged = forge(
        best,
        tmp_path / "hostile.ckpt",
        lambda c: _place(c[CHECKPOINT_KEY]["config"], "model.width", write),
    )
    result = run_tuneforge(
        "export",
        f"ckpt_path={forged}",
        "trust_config=true",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert result.returncode != 0  # the CNN gets torch.save's None as its width...
    assert (tmp_path / PWNED).exists()  # ...after the command ran


def test_a_users_own_config_files_trust_their_targets_but_run_folders_in_them_do_not(
    default_run, tmp_path
):
    best = default_run / "checkpoints" / "best.ckpt"
    configs = tmp_path / "configs"
    (configs / "model").mkdir(parents=True)
    (configs / "model" / "mine.yaml").write_text("_target_: my_lab.models.Net\n")
    # a run folder inside the config folder names os.system in its own .hydra/config.yaml
    (configs / "old_run" / ".hydra").mkdir(parents=True)
    (configs / "old_run" / ".hydra" / "config.yaml").write_text("model:\n  _target_: os.system\n")
    (configs / "linked.yaml").symlink_to(configs / "old_run" / ".hydra" / "config.yaml")
    mine = forge(
        best,
        tmp_path / "mine.ckpt",
        lambda c: _place(c[CHECKPOINT_KEY]["config"], "model._target_", "my_lab.models.Net"),
    )
    shell = forge(
        best,
        tmp_path / "shell.ckpt",
        lambda c: _place(c[CHECKPOINT_KEY]["config"], "model._target_", "os.system"),
    )

    def evaluate(checkpoint: Path, name: str):
        return run_tuneforge(
            "eval",
            "--config-dir",
            str(configs),
            f"ckpt_path={checkpoint}",
            f"hydra.run.dir={tmp_path / name}",
            cwd=tmp_path,
        )

    trusted = evaluate(mine, "mine")
    assert trusted.returncode != 0 and "would build" not in trusted.stderr  # built: no module
    assert "my_lab" in trusted.stderr
    refused = evaluate(shell, "shell")
    assert_one_line_error(refused, 4, ["would build os.system", "trust_config=true"])


# (case, the edit, the fragment the one line holds)
BAD_DATA: list[tuple[str, Callable[[dict], None], str]] = [
    (
        "an input shape of 10^10 values",
        lambda c: c[CHECKPOINT_KEY]["data_spec"].update(input_shape=[1, 100_000, 100_000]),
        "data_spec.input_shape=[1, 100000, 100000] is not 1 to 4 positive sizes",
    ),
    (
        "a class count that is text",
        lambda c: c[CHECKPOINT_KEY]["data_spec"].update(num_classes="ten"),
        "data_spec.num_classes='ten' is not a positive integer",
    ),
    (
        "class names that do not match the classes",
        lambda c: c[CHECKPOINT_KEY]["data_spec"].update(class_names=["cat"]),
        "data_spec names 1 classes but num_classes=10",
    ),
    (
        "data facts that are a list",
        lambda c: c[CHECKPOINT_KEY].update(data_spec=[1, 2]),
        "its data facts are a list",
    ),
    (
        "a config that is text",
        lambda c: c[CHECKPOINT_KEY].update(config="model: os.system"),
        "holds no config mapping",
    ),
    (
        "no model in the config",
        lambda c: c[CHECKPOINT_KEY]["config"].pop("model"),
        "its config has no model component",
    ),
    (
        "weights that are not tensors",
        lambda c: c["state_dict"].update({"model.extra": "rm -rf /"}),
        "its state_dict is not a mapping of names to tensors",
    ),
    (
        "random states that are not",
        lambda c: c["callbacks"]["ResumeState"]["random"].update(python="seed"),
        "its saved random states are not Python's, NumPy's and torch's",
    ),
]


@pytest.mark.parametrize(("case", "edit", "fragment"), BAD_DATA, ids=[c for c, _, _ in BAD_DATA])
def test_stored_data_of_the_wrong_type_or_size_is_refused(
    default_run, tmp_path, case, edit, fragment
):
    forged = forge(default_run / "checkpoints" / "last.ckpt", tmp_path / "bad.ckpt", edit)
    before = snapshot(tmp_path)
    for verb in ("eval", "export"):
        result = run_tuneforge(
            verb, f"ckpt_path={forged}", f"hydra.run.dir={tmp_path / verb}", cwd=tmp_path
        )
        assert_one_line_error(result, 4, ["is not as `tuneforge train` writes it", fragment])
    resumed = run_tuneforge(
        "train",
        f"resume={forged}",
        "trainer.max_epochs=2",
        f"hydra.run.dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert_one_line_error(resumed, 4, [fragment])
    assert snapshot(tmp_path) == before


TINY_GPT = [
    "experiment=gpt_shakespeare_char",
    "logger=none",
    "model.n_layer=1",
    "model.n_head=2",
    "model.n_embd=16",
    "data.block_size=16",
    "data.batches_per_epoch=2",
    "trainer.max_epochs=1",
]


@pytest.fixture(scope="module")
def tiny_gpt(tmp_path_factory) -> Path:
    """A character GPT's checkpoint after two steps on 20,000 characters."""
    run_dir = train_small_gpt(tmp_path_factory.mktemp("tiny_gpt"), 20_000, *TINY_GPT)
    return run_dir / "checkpoints" / "last.ckpt"


def _tokenizer(checkpoint: dict, value: Any) -> None:
    checkpoint["TextLMDataModule"]["tokenizer"] = value


TOKENIZERS = [
    ("not JSON", '{"type": "char", "chars": ', "its tokenizer cannot be read"),
    ("not text", 42, "its tokenizer is a int, not JSON text"),
    ("no tokenizer at all", '{"type": "bpe"}', "its tokenizer cannot be read"),
    (
        "more tokens than the model has",
        '{"type": "char", "chars": "' + "".join(chr(0x4E00 + i) for i in range(200)) + '"}',
        "its tokenizer has 201 tokens but the model's vocabulary only",
    ),
]


@pytest.mark.parametrize(
    ("case", "value", "fragment"), TOKENIZERS, ids=[c for c, _, _ in TOKENIZERS]
)
def test_a_stored_tokenizer_is_checked_as_data(tiny_gpt, tmp_path, case, value, fragment):
    forged = forge(tiny_gpt, tmp_path / "bad.ckpt", lambda c: _tokenizer(c, value))
    before = snapshot(tmp_path)
    for verb in ("generate", "eval", "export"):
        result = (
            run_tuneforge(
                verb,
                f"ckpt_path={forged}",
                "prompt=To",
                f"hydra.run.dir={tmp_path / verb}",
                cwd=tmp_path,
            )
            if verb == "generate"
            else run_tuneforge(
                verb, f"ckpt_path={forged}", f"hydra.run.dir={tmp_path / verb}", cwd=tmp_path
            )
        )
        assert_one_line_error(result, 4, [fragment])
    assert snapshot(tmp_path) == before


def test_a_checkpoint_never_decides_where_a_verb_writes(tiny_gpt, tmp_path):
    outside = tmp_path / "outside"

    def elsewhere(checkpoint: dict) -> None:
        config = checkpoint[CHECKPOINT_KEY]["config"]
        config["data"]["cache_dir"] = str(outside / "cache")
        config["paths"] = {"output_dir": str(outside / "out"), "data_dir": str(outside / "data")}
        config["hydra"] = {"run": {"dir": str(outside / "hydra")}}
        config["callbacks"] = {
            "model_checkpoint": {
                "_target_": "lightning.pytorch.callbacks.ModelCheckpoint",
                "dirpath": str(outside / "checkpoints"),
            }
        }
        config["logger"] = {
            "tensorboard": {
                "_target_": "lightning.pytorch.loggers.TensorBoardLogger",
                "save_dir": str(outside / "tensorboard"),
            }
        }
        config["trainer"]["default_root_dir"] = str(outside / "root")

    forged = forge(tiny_gpt, tmp_path / "elsewhere.ckpt", elsewhere)
    runs = tmp_path / "runs"
    for verb, extra in [("eval", []), ("predict", []), ("export", []), ("generate", ["prompt=To"])]:
        result = run_tuneforge(
            verb, f"ckpt_path={forged}", *extra, f"hydra.run.dir={runs / verb}", cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr[-2000:]
    assert not outside.exists()
    assert list((runs / "eval" / "rebuilt" / "cache_dir").glob("*.bin"))  # its own cache
    assert (runs / "eval" / "metrics.json").is_file()
    assert (runs / "export" / "model.safetensors").is_file()


def _hostile_model(tmp: Path) -> Callable[[dict], None]:
    shell = {"_target_": "os.system", "_args_": [f"touch {_pwned(tmp)}"]}
    return lambda c: _place(c[CHECKPOINT_KEY]["config"], "model", shell)


QUICK_TRAIN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "callbacks=none",
    "logger=none",
]


def test_fine_tuning_from_a_hostile_checkpoint_reads_its_weights_only(default_run, tmp_path):
    forged = forge(
        default_run / "checkpoints" / "best.ckpt", tmp_path / "h.ckpt", _hostile_model(tmp_path)
    )
    result = run_tuneforge(
        "train",
        *QUICK_TRAIN,
        f"finetune.checkpoint={forged}",
        f"hydra.run.dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / PWNED).exists()


def test_resuming_from_a_hostile_checkpoint_builds_this_runs_config(default_run, tmp_path):
    forged = forge(
        default_run / "checkpoints" / "last.ckpt", tmp_path / "h.ckpt", _hostile_model(tmp_path)
    )
    epochs = torch.load(forged, weights_only=True)["epoch"]
    result = run_tuneforge(
        "train",
        f"resume={forged}",
        f"trainer.max_epochs={epochs + 1}",
        "trainer.limit_train_batches=2",
        f"hydra.run.dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    # this run's config is built, and the stored one only compared with it: the model differs
    assert_one_line_error(result, 2, ["model._target_: os.system -> tuneforge.models.CNN"])
    assert not (tmp_path / PWNED).exists()


def test_an_exported_folder_with_a_hostile_config_gives_weights_only(default_run, tmp_path):
    exported = tmp_path / "exported"
    result = run_tuneforge(
        "export", f"ckpt_path={default_run}", f"hydra.run.dir={exported}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (exported / "config.yaml").write_text(
        f"model:\n  _target_: os.system\n  _args_: ['touch {_pwned(tmp_path)}']\n"
    )
    result = run_tuneforge(
        "train",
        *QUICK_TRAIN,
        f"finetune.checkpoint={exported}",
        "finetune.strict=true",
        f"hydra.run.dir={tmp_path / 'r'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / PWNED).exists()


def test_lightning_reloads_a_resumed_checkpoint_as_data_only(tmp_path):
    """Lightning reads the resume checkpoint a second time, after ours: that read must not
    unpickle code either."""
    from tuneforge.run.checkpoint_io import AtomicCheckpointIO

    torch.save({"state_dict": {}, "extra": _Payload(tmp_path / PWNED)}, tmp_path / "code.ckpt")
    torch.save({"a": 1}, tmp_path / "plain.ckpt")
    with pytest.raises(pickle.UnpicklingError):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "code.ckpt")
    assert not (tmp_path / PWNED).exists()
    assert AtomicCheckpointIO().load_checkpoint(tmp_path / "plain.ckpt") == {"a": 1}
