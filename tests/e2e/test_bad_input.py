"""Each bad input gets one line naming the problem and the fix, a non-zero exit, no traceback,
and leaves nothing that looks like a finished run."""

import pytest
import torch

from ..conftest import FASHION_MNIST_ROOT, REPO, SHAKESPEARE, run_tuneforge

FULL_DISK = "tests.e2e._full_disk"  # hooks that make the run folder's disk full from a point on
HOOKS_ENV = {"PYTHONPATH": str(REPO)}  # where the command imports them from

pytestmark = pytest.mark.slow

# (arguments, exit code, fragments the one line must hold)
TRAIN_CASES = [
    (["trainer.max_epoch=3"], 2, ["trainer.max_epoch", "did you mean trainer.max_epochs"]),
    (["trainer.max_epochs=ten"], 2, ["trainer.max_epochs='ten'", "an integer"]),
    (["model=nope"], 2, ["model=nope", "choose one of: cnn, gpt, ", " lstm, mlp, "]),
    (["optimizer.lr=-1"], 2, ["optimizer.lr=-1", "> 0"]),
    (["data.batch_size=0"], 2, ["data.batch_size=0", ">= 1"]),
    (["data.val_fraction=1.0"], 2, ["data.val_fraction=1.0", "(0, 1)"]),
    (["data.val_fraction=0.5", "data.test_fraction=0.5"], 2, ["left to train on"]),
    (["monitor.metric=val/accuracy"], 2, ["monitor.metric='val/accuracy'", "val/acc"]),
    (["monitor.mode=up"], 2, ["monitor.mode='up'", "'min', 'max'"]),
    (["seed=abc"], 2, ["seed='abc'", "an integer"]),
    (["trainer.precision=bf17"], 2, ["trainer.precision='bf17'", "'bf16-mixed'"]),
    (["+model.num_classes=3"], 2, ["model.num_classes", "from the data"]),
    (["+trainer.max_epoch=3"], 2, ["trainer.max_epoch is not an argument", "max_epochs"]),
    (["model.width=wide"], 2, ["model.width='wide'", "an integer"]),
    (["finetune.checkpoint=weights.pt"], 4, ["finetune.checkpoint", "'weights.pt' do not exist"]),
    (["max_epochs"], 2, ["cannot parse", "key=value"]),
    (["modle=cnn"], 2, ["modle is not a key", "did you mean model?"]),
    (["optimizer.betas=[0.9]"], 2, ["optimizer.betas=[0.9]", "a list of 2 values"]),
    (["scheduler=null"], 2, ["cannot be set to null", "scheduler=none"]),
    (["data=fashion_mnist", "data.root=nowhere"], 3, ["'nowhere'", "data.download=true"]),
    (["optimizer=adam"], 2, ["optimizer=adam", "did you mean optimizer=adamw?"]),
    (["hparams_search=nope"], 2, ["hparams_search=nope", "choose one of: digits_cnn"]),
    (["trainer.max_epochs=0"], 2, ["trainer.max_epochs=0", ">= 1, or -1 for no limit"]),
    (["data.num_workers=-1"], 2, ["data.num_workers=-1", ">= 0, or auto"]),
    (["trainer=gpu"], 2, ["trainer.accelerator=gpu", "no GPU", "trainer=cpu"]),
    (["resume=nowhere.ckpt"], 4, ["resume 'nowhere.ckpt' does not exist", "resume=null"]),
    (["resume.allow_changes=maybe"], 2, ["resume.allow_changes='maybe'", "true or false"]),
    # impossible model sizes, and a model that does not fit the data
    (
        ["experiment=gpt_shakespeare_char", f"data.path={SHAKESPEARE}", "model.n_head=3"],
        2,
        ["n_embd=128 is not a multiple of n_head=3", "n_head divides n_embd"],
    ),
    (["model=gpt"], 2, ["GPT needs block_size, vocab_size", "choose a model that fits"]),
    (
        [
            "data=text_lm",
            f"data.path={SHAKESPEARE}",
            "model=gpt",
            "task=language_modeling",
            "channels_last=true",
        ],
        2,
        ["channels_last=true is for convolutional models", "leave channels_last=false"],
    ),
    (
        ["data=text_lm", f"data.path={SHAKESPEARE}", "model=cnn"],
        2,
        ["CNN needs input_shape, num_classes", "choose a model that fits"],
    ),
    # missing, empty and mismatched data (the files are written by the test)
    (["data=csv", "data.path=missing.csv", "data.target=x"], 3, ["'missing.csv' does not exist"]),
    (["data=csv", "data.path=empty.csv", "data.target=x"], 3, ["'empty.csv' is empty", "header"]),
    (["data=csv", "data.path=two.csv", "data.target=x"], 3, ["target='x'", "columns: a, b"]),
    (["data=text_lm", "data.path=empty.txt", "model=gpt"], 3, ["'empty.txt' is empty"]),
    # tables and texts that would train on nothing, or on a model that cannot read them
    (
        ["data=csv", "data.path=infinite.csv", "data.target=y"],
        3,
        ["column 'x' of 'infinite.csv' holds no finite number", "remove the column"],
    ),
    (
        ["data=csv", "data.path=one_class.csv", "data.target=y"],
        3,
        ["data.target='y'", "holds one class, 'a', in all 20 usable rows", "choose another"],
    ),
    (
        [
            "data=text_classification",
            "data.path=one_class.csv",
            "data.text_column=x",
            "data.label_column=y",
        ],
        3,
        ["data.label_column='y'", "holds one class, 'a'", "a classifier needs two or more"],
    ),
    (
        ["data=csv", "data.path=table.csv", "data.target=y", "model=cnn"],
        2,
        ["model: this data is a table, whose rows CNN cannot take; choose model=mlp"],
    ),
    # values left required, config folders missing or broken, flags that do not go together
    (
        ["experiment=minilm_text_classification", "data.path=tweets.csv"],
        2,
        ["model.path is required", "set model.path="],
    ),
    (["--config-dir", "nowhere"], 2, ["--config-dir", "nowhere' does not exist"]),
    (
        ["--config-dir", "broken_conf", "experiment=broken"],
        2,
        ["broken.yaml' is not valid YAML at line", "fix the file there"],
    ),
    (["--cfg", "job", "-m", "seed=1,2"], 2, ["-m and --cfg cannot go together"]),
]


def assert_one_line_error(result, code: int, fragments: list[str]) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def assert_nothing_finished(run_dir) -> None:
    assert not (run_dir / "metrics.json").exists()
    assert not list(run_dir.rglob("*.ckpt"))
    assert not run_dir.exists()  # refused before it ran: no folder is left


@pytest.mark.parametrize(("args", "code", "fragments"), TRAIN_CASES, ids=lambda a: str(a))
def test_bad_train_input(tmp_path, args, code, fragments):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "two.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "broken_conf" / "experiment").mkdir(parents=True)
    (tmp_path / "broken_conf" / "experiment" / "broken.yaml").write_text("model:\n  width: [1,\n")
    rows = [f"{i}.5,{'ab'[i % 2]}\n" for i in range(20)]
    (tmp_path / "table.csv").write_text("x,y\n" + "".join(rows))
    (tmp_path / "one_class.csv").write_text("x,y\n" + "".join(r[:-2] + "a\n" for r in rows))
    (tmp_path / "infinite.csv").write_text("x,z,y\n" + "".join(f"inf,{r}" for r in rows))
    run_dir = tmp_path / "run"
    result = run_tuneforge("train", *args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert_one_line_error(result, code, fragments)
    assert_nothing_finished(run_dir)


def bad_checkpoints(tmp_path):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.ckpt")
    torch.save({"state_dict": {}, "extra": _Payload(tmp_path / "pwned")}, tmp_path / "code.ckpt")
    return {
        "missing.ckpt": "does not exist",
        "notes.ckpt": "not a readable checkpoint",
        "foreign.ckpt": "not a checkpoint",
        "code.ckpt": "holds pickled code and was not loaded",
        ".": "is a folder with no checkpoints/best.ckpt",
    }


class _Payload:
    """Unpickling this would create a file: a checkpoint that holds code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("verb", ["eval", "predict"])
def test_bad_checkpoints(tmp_path, verb):
    for name, fragment in bad_checkpoints(tmp_path).items():
        run_dir = tmp_path / f"run_{name}"
        result = run_tuneforge(verb, f"ckpt_path={name}", f"hydra.run.dir={run_dir}", cwd=tmp_path)
        assert_one_line_error(result, 4, [f"'{name}'", fragment])
        assert_nothing_finished(run_dir)
    assert not (tmp_path / "pwned").exists()


def test_eval_needs_a_checkpoint(tmp_path):
    result = run_tuneforge("eval", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert_one_line_error(result, 2, ["ckpt_path is required"])


def test_unknown_verb(tmp_path):
    result = run_tuneforge("fit", cwd=tmp_path)
    assert_one_line_error(result, 2, ["unknown verb 'fit'", "train, eval, predict"])


def test_full_traceback_on_request(tmp_path):
    result = run_tuneforge(
        "train",
        "optimizer.lr=-1",
        f"hydra.run.dir={tmp_path}",
        cwd=tmp_path,
        env={"HYDRA_FULL_ERROR": "1"},
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "optimizer.lr=-1" in result.stderr


def test_bad_predict_inputs(default_run, tmp_path):
    best = default_run / "checkpoints" / "best.ckpt"
    (tmp_path / "short.csv").write_text("1,2,3\n")
    (tmp_path / "inputs").mkdir()
    fragments = {
        "none.csv": "does not exist",
        "short.csv": "shape (1, 3)",
        "inputs": "is a folder, but it takes one file; pass a .csv or .npy file",
    }
    for name, fragment in fragments.items():
        run_dir = tmp_path / f"run_{name}"
        result = run_tuneforge(
            "predict",
            f"ckpt_path={best}",
            f"predict.input={name}",
            f"hydra.run.dir={run_dir}",
            cwd=tmp_path,
        )
        assert_one_line_error(result, 3, [f"'{name}'", fragment])
        assert not (run_dir / "predictions.csv").exists()


def test_a_checkpoint_whose_config_names_foreign_code_is_not_built(default_run, tmp_path):
    from tuneforge.checkpoint_format import CHECKPOINT_KEY

    checkpoint = torch.load(default_run / "checkpoints" / "best.ckpt", weights_only=True)
    checkpoint[CHECKPOINT_KEY]["config"]["model"] = {
        "_target_": "builtins.open",
        "file": str(tmp_path / "pwned"),
        "mode": "w",
    }
    torch.save(checkpoint, tmp_path / "foreign_code.ckpt")
    for verb in ("eval", "predict", "export"):
        run_dir = tmp_path / f"run_{verb}"
        result = run_tuneforge(
            verb, "ckpt_path=foreign_code.ckpt", f"hydra.run.dir={run_dir}", cwd=tmp_path
        )
        assert_one_line_error(result, 4, ["would build builtins.open", "trust_config=true"])
        assert not run_dir.exists()
    assert not (tmp_path / "pwned").exists()


def test_a_full_disk_at_the_start_is_one_line_naming_the_file(tmp_path):
    run_dir = tmp_path / "run"
    full_disk = [
        f"+hydra.callbacks.full_disk._target_={FULL_DISK}.FullDiskAtStart",
        f"+hydra.callbacks.full_disk.folder={run_dir}",
    ]
    result = run_tuneforge(
        "train", *full_disk, f"hydra.run.dir={run_dir}", cwd=tmp_path, env=HOOKS_ENV
    )
    lock = run_dir / ".tuneforge.lock"  # the first file a run writes
    assert_one_line_error(result, 5, [f"cannot write '{lock}': the disk is full", "hydra.run.dir"])
    assert "resume=auto" not in result.stderr  # nothing was saved to resume from
    assert_nothing_finished(run_dir)


def test_a_full_disk_once_trained_keeps_the_checkpoints(tmp_path, quick_overrides):
    run_dir = tmp_path / "run"
    full_disk = f"+callbacks.full_disk._target_={FULL_DISK}.FullDiskAtTest"
    result = run_tuneforge(
        "train",
        *quick_overrides,
        "logger=none",
        full_disk,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        env=HOOKS_ENV,
    )
    assert result.returncode == 5, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert ": the disk is full; free some space" in errors[0]
    assert "resume=auto continues from the newest" in errors[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (run_dir / "metrics.json").exists()
    checkpoints = run_dir / "checkpoints"
    last = torch.load(checkpoints / "last.ckpt", weights_only=True)
    assert last["global_step"] == 6  # saved at the end of the second and last epoch, whole
    assert torch.load(checkpoints / "best.ckpt", weights_only=True)["state_dict"]
    assert not list(checkpoints.glob(".*"))  # no half-written file beside them


# `eval data=CHOICE` that does not fit the model of the default run (a CNN trained on digits'
# 1x8x8 images): text and a table, as the user's own data configs, and other images.
EVAL_DATA_CASES = [
    (
        ["--config-dir", "conf", "data=shakespeare"],
        ["eval data=shakespeare gives text (a vocabulary of ", "trained on images (1x8x8, 10 "],
    ),
    (
        ["--config-dir", "conf", "data=table"],
        [
            "eval data=table gives a table (1 input column, 2 classes)",
            "choose data of the same kind",
        ],
    ),
    pytest.param(
        ["data=fashion_mnist", f"data.root={FASHION_MNIST_ROOT}"],
        ["input_shape=[1, 28, 28], the model was trained on input_shape=[1, 8, 8]"],
        marks=pytest.mark.system,
    ),
]


@pytest.mark.parametrize(("args", "fragments"), EVAL_DATA_CASES, ids=lambda a: str(a))
def test_eval_data_that_does_not_fit_the_model(default_run, tmp_path, args, fragments):
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "shakespeare.txt").write_text(SHAKESPEARE.read_text(encoding="utf-8")[:5000])
    text = "_target_: tuneforge.data.TextLMDataModule\npath: shakespeare.txt\nblock_size: 16\n"
    (tmp_path / "conf" / "data" / "shakespeare.yaml").write_text(text)
    table = "_target_: tuneforge.data.CSVDataModule\npath: table.csv\ntarget: y\n"
    (tmp_path / "conf" / "data" / "table.yaml").write_text(table)
    rows = [f"{i}.5,{'ab'[i % 2]}\n" for i in range(20)]
    (tmp_path / "table.csv").write_text("x,y\n" + "".join(rows))
    run_dir = tmp_path / "run"
    result = run_tuneforge(
        "eval", *args, f"ckpt_path={default_run}", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert_one_line_error(result, 3, [f"ckpt_path '{default_run}", *fragments])
    assert not (run_dir / "metrics.json").exists()
