"""Every option of every config group composes and binds; every experiment runs one batch."""

import json
import re

import pytest
import torch

from tuneforge.cli.list import read_header
from tuneforge.configs import config_dir
from tuneforge.finetune.strategies import STRATEGIES
from tuneforge.run.build import build, build_model
from tuneforge.run.validate import TRAIN_SCHEMA, validate

from ..conftest import FASHION_MNIST_ROOT, MINILM, PENGUINS, SHAKESPEARE, TWEETS, compose_config
from ..llm._tiny import shared_instructions, shared_model_folder

# A pretrained causal LM's folder, and instruction records for it: tiny ones, random weights.
TINY_LLM = [f"model.path={shared_model_folder()}"]
CHATS = [f"data.path={shared_instructions()}", *TINY_LLM]

CONF = config_dir()
GROUPS = sorted(
    p.name for p in CONF.iterdir() if p.is_dir() and p.name not in {"hydra", "__pycache__"}
)
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
# Options whose required (???) keys a user must set on the command line.
REQUIRED = {
    ("data", "csv"): ["data.path=table.csv", "data.target=label"],
    ("data", "image_folder"): ["data.root=images"],
    ("data", "text_corpus"): ["data.path=corpus"],
    **{("finetune", s): ["finetune.checkpoint=weights.pt"] for s in STRATEGIES},
    ("model", "hf_encoder"): [f"model.path={MINILM}"],
    ("model", "hf_causal_lm"): TINY_LLM,
    # one block of the large Llama presets: their full size is built in tests/models/test_llama.py
    ("model", "llama_smollm2_135m"): ["model.n_layer=1"],
    ("model", "llama_1b"): ["model.n_layer=1"],
    ("data", "chat"): [*CHATS, "data.format=alpaca"],
    ("data", "instruct"): CHATS,
    ("data", "text_classification"): [
        "data.path=texts.csv",
        "data.text_column=text",
        "data.label_column=label",
    ],
}
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# The file each experiment's header tells its user to name, by the experiment's name.
EXPERIMENT_DATA = {
    "gpt_": [f"data.path={SHAKESPEARE}"],
    # a corpus of one document here, tokenized into the run's own folder
    "llama_gcide": [
        f"data.path={SHAKESPEARE}",
        "data.tokenizer_sample_mb=1",
        "data.num_proc=1",
        "data.cache_dir=${paths.output_dir}/corpus",
    ],
    "penguins_": [f"data.path={PENGUINS}"],
    "tweets_": [f"data.path={TWEETS}"],
    "minilm_": [f"data.path={TWEETS}", f"model.path={MINILM}"],
    # the real SmolLM2 runs in tests/llm/test_readme_section.py; here its config, on a tiny Llama
    "smollm2_": [*CHATS, "model.gguf_file=null", "data.test_path=null", "data.val_fraction=0.3"],
    # Written by the one-batch test below, from the model of the experiment that pretrains it.
    "fashion_mnist_finetune": ["finetune.checkpoint=${paths.output_dir}/pretrained.ckpt"],
}
# Experiments that start from another experiment's weights: the one that makes them.
PRETRAINED_BY = {"fashion_mnist_finetune": "fashion_mnist_pretrain"}


def experiment_data(experiment: str) -> list[str]:
    return next((v for k, v in EXPERIMENT_DATA.items() if experiment.startswith(k)), [])


def test_groups_the_product_promises_exist():
    promised = {"data", "augmentation", "model", "optimizer", "scheduler", "trainer", "callbacks"}
    promised |= {"logger", "paths", "finetune", "hparams_search", "experiment", "debug"}
    assert promised <= set(GROUPS)
    assert (CONF / "hydra" / "default.yaml").is_file()


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_and_binds(group, option, tmp_path):
    required = REQUIRED.get((group, option), [])
    if group == "experiment":
        required = experiment_data(option)
    cfg = compose_config("train", [f"{group}={option}", f"paths.output_dir={tmp_path}", *required])
    validate(cfg, TRAIN_SCHEMA)


def names_choice(command: str, group: str, choice: str) -> bool:
    """Whether `command` chooses `choice` of `group`: group=choice, or group=[a,choice,...]."""
    values = re.findall(rf"(?:^|\s)'?{re.escape(group)}=(\S+)", command)
    return any(choice in value.strip("[]'").split(",") for value in values)


@pytest.mark.parametrize(
    "path", sorted(CONF.rglob("*.yaml")), ids=lambda p: p.relative_to(CONF).as_posix()
)
def test_every_config_file_opens_with_what_it_is_and_a_command_that_uses_it(path):
    """The header `tuneforge list` shows: what the file is, then a `Run:` (or `View:`) line whose
    command chooses it (`model=cnn`), or runs its verb (`tuneforge eval` for eval.yaml)."""
    assert path.read_text().startswith("# "), f"{path} needs a header comment"
    header = read_header(path)
    assert header.summary, f"{path}'s header needs a line that says what it is"
    assert header.command is not None, f"{path}'s header needs a Run: line with its command"
    group = path.parent.relative_to(CONF).as_posix()
    if group == ".":
        assert f"tuneforge {path.stem}" in header.command, path
    else:
        assert names_choice(header.command, group, path.stem), (
            f"{path}'s Run: command does not choose {group}={path.stem}: {header.command}"
        )


def one_batch_config(experiment: str, run_dir):
    return compose_config(
        "train",
        [
            f"experiment={experiment}",
            "debug=fast",
            f"paths.output_dir={run_dir}",
            f"paths.data_dir={FASHION_MNIST_ROOT}",  # image sets read offline from here
            *experiment_data(experiment),
        ],
    )


@pytest.mark.parametrize(
    "experiment",
    [  # Debian's Fashion-MNIST (`make test` installs it)
        pytest.param(e, marks=pytest.mark.system) if e.startswith("fashion_mnist") else e
        for e in EXPERIMENTS
    ],
)
def test_every_experiment_runs_one_batch(experiment, tmp_path):
    if experiment in PRETRAINED_BY:  # its untrained weights: loading them is what is checked
        pre = tmp_path / "pre"
        source = build(one_batch_config(PRETRAINED_BY[experiment], pre), pre)
        weights = {"model." + k: v for k, v in source.model.state_dict().items()}
        stored = {"data_spec": source.datamodule.spec}  # as a run's checkpoint stores it
        torch.save({"state_dict": weights, "tuneforge": stored}, tmp_path / "pretrained.ckpt")
    built = build(one_batch_config(experiment, tmp_path), tmp_path)
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert built.trainer.global_step == 1
    if experiment in PRETRAINED_BY:  # other classes, as many: the head starts fresh
        report = json.loads((tmp_path / "load_report.json").read_text())
        assert report["head_reset"] and report["counts"]["missing"] == 2


# What a DataModule's spec tells a model, for each kind of data, and a batch of that data.
SPECS = {
    "images": {"input_shape": (1, 8, 8), "num_classes": 10, "task": "classification"},
    "texts": {"vocab_size": 40, "num_classes": 3, "max_length": 16, "pad_id": 0}
    | {"task": "classification"},
    "language": {"vocab_size": 40, "block_size": 16, "task": "language_modeling"},
}
BATCHES = {
    "images": lambda: torch.randn(2, 1, 8, 8),
    "texts": lambda: torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]]),  # padded at the end with pad_id
    "language": lambda: torch.randint(0, 40, (2, 16)),
}
# Models for data other than images (digits, the default data, gives 8x8 images).
MODEL_DATA = {"lstm": "texts", "transformer": "texts", "hf_encoder": "texts", "gpt": "language"}
MODEL_DATA["hf_causal_lm"] = "language"
MODEL_DATA |= {p.stem: "language" for p in (CONF / "model").glob("llama*.yaml")}
MODELS = [option for group, option in OPTIONS if group == "model"]


@pytest.mark.parametrize("model", MODELS)
def test_every_model_builds_from_what_its_data_tells(model):
    kind = MODEL_DATA.get(model, "images")
    required = REQUIRED.get(("model", model), [])
    built = build_model(compose_config("train", [f"model={model}", *required]).model, SPECS[kind])
    assert built(BATCHES[kind]()).shape[0] == 2


TEXTS = ["data=text_classification", *REQUIRED[("data", "text_classification")]]


@pytest.mark.parametrize(
    ("overrides", "model", "task"),
    [
        (["data=csv", *REQUIRED[("data", "csv")]], "MLP", "ClassificationTask"),
        (TEXTS, "LSTMClassifier", "ClassificationTask"),
        (["data=text_lm"], "GPT", "LanguageModelingTask"),
        ([*TEXTS, "model=transformer"], "TransformerClassifier", "ClassificationTask"),
        (["data=text_lm", "model=lstm"], "LSTMClassifier", "LanguageModelingTask"),
        (["experiment=digits_mlp"], "MLP", "ClassificationTask"),
        ([], "CNN", "ClassificationTask"),
    ],
)
def test_each_data_kind_picks_a_model_and_task_unless_one_is_chosen(overrides, model, task):
    cfg = compose_config("train", overrides)
    assert cfg.model._target_ == f"tuneforge.models.{model}"
    assert cfg.task._target_ == f"tuneforge.tasks.{task}"
