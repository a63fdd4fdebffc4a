"""Bad chat data, model folders and settings for causal-LM fine-tuning: one line that names the
problem and the fix, a non-zero exit, and no run that looks finished."""

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import run_tuneforge
from ._tiny import conversation, save_model_folder

pytestmark = pytest.mark.slow

GOOD = [conversation("France", "Paris"), conversation("Italy", "Rome")] * 4


def _rows(*bad: dict) -> list[dict]:
    return [*GOOD[:3], *bad, *GOOD[3:]]


# (rows of the training file, extra overrides, exit code, fragments of the one error line)
CASES = {
    "unknown role": (
        _rows({"messages": [{"role": "robot", "content": "Hi"}]}),
        [],
        3,
        ["row 4", "role 'robot'", "data.strict=false"],
    ),
    "no assistant turn": (
        _rows({"messages": [{"role": "user", "content": "Hi"}]}),
        [],
        3,
        ["row 4", "no assistant turn", "data.strict=false"],
    ),
    "empty content": (
        _rows(
            {"messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}]}
        ),
        [],
        3,
        ["row 4", "turn 1 (user) is empty"],
    ),
    "alpaca without output": (
        [{"instruction": "Define cat.", "output": "A feline."}, {"instruction": "Define dog."}],
        ["data=instruct"],
        3,
        ["row 2", "no text 'output'", "data.columns.output=KEY"],
    ),
    "too long under policy=error": (
        GOOD,
        ["data.max_length=8", "data.length_policy=error"],
        3,
        ["tokens, over data.max_length=8", "data.length_policy=drop or truncate"],
    ),
    "lora targets that match nothing": (
        GOOD,
        ["finetune.lora_targets=nothing_here"],
        2,
        ["lora_targets='nothing_here' finds no module", "hf_model.model.layers.0.self_attn.q_proj"],
    ),
    "qlora on a machine without a CUDA GPU": (
        GOOD,
        ["finetune=qlora"],
        2,
        ["finetune=qlora", "needs a CUDA GPU", "use finetune=lora"],
    ),
    "a 4-bit base under a strategy that trains it": (
        GOOD,
        ["finetune=freeze", "finetune.freeze_groups=1", "finetune.quantization=nf4"],
        2,
        ["a 4-bit base cannot train", "finetune=qlora"],
    ),
    "a 4-bit format bitsandbytes has not": (
        GOOD,
        ["finetune=qlora", "finetune.quantization=int3"],
        2,
        ["finetune.quantization", "int3", "nf4"],
    ),
    "a model that takes no chat": (
        GOOD,
        ["model=cnn"],
        2,
        ["ChatDataModule is tokenized by a pretrained model's own tokenizer", "model=hf_causal_lm"],
    ),
}


def assert_one_line_error(result, code: int, fragments: list[str]) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == code, result.stderr[-3000:]
    assert len(errors) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", CASES)
def test_bad_chat_training_input_is_one_line(case, llama_folder, tmp_path):
    rows, extra, code, fragments = CASES[case]
    chats = tmp_path / "chats.jsonl"
    chats.write_text("".join(json.dumps(row) + "\n" for row in rows))
    run_dir = tmp_path / "run"
    args = [f"data.path={chats}", "data.val_fraction=0.5"]
    if "model=cnn" not in extra:  # a model of its own: no folder to name
        args.append(f"model.path={llama_folder}")
    result = run_tuneforge(
        "train", "data=chat", *args, *extra, f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert_one_line_error(result, code, fragments)
    assert not (run_dir / "metrics.json").exists()
    assert not (run_dir / "checkpoints").exists()


def _model_without(llama_folder: Path, folder: Path, drop: str) -> Path:
    """A copy of the tiny model's folder with its tokenizer files, or its chat template, gone."""
    copy = shutil.copytree(llama_folder, folder)
    if drop == "tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            (copy / name).unlink(missing_ok=True)
    else:
        (copy / "chat_template.jinja").unlink(missing_ok=True)
        config = json.loads((copy / "tokenizer_config.json").read_text())
        config.pop("chat_template", None)
        (copy / "tokenizer_config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize(
    ("drop", "fragments"),
    [
        ("tokenizer", ["holds no tokenizer", "copy the model's tokenizer files"]),
        ("template", ["the tokenizer has no chat template", "data.chat_template"]),
    ],
)
def test_a_model_folder_without_tokenizer_or_template_is_named(
    drop, fragments, llama_folder, chats, tmp_path
):
    model = _model_without(llama_folder, tmp_path / "model", drop)
    run_dir = tmp_path / "run"
    args = [f"model.path={model}", f"data.path={chats}", f"hydra.run.dir={run_dir}"]
    result = run_tuneforge("train", "data=chat", *args, cwd=tmp_path)
    assert_one_line_error(result, 3 if drop == "template" else 2, fragments)
    assert not run_dir.exists() or not (run_dir / "checkpoints").exists()


TEMPLATE = """\
{% for m in messages %}<|im_start|>{{ m['role'] }}
{{ m['content'] }}<|im_end|>
{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}"""


def test_a_base_model_trains_with_a_template_given_in_the_users_config(tmp_path, chats):
    model = save_model_folder(tmp_path / "base", template=None)
    (tmp_path / "conf" / "data").mkdir(parents=True)
    indented = "".join(f"  {line}\n" for line in TEMPLATE.splitlines())
    (tmp_path / "conf" / "data" / "my_chat.yaml").write_text(
        f"defaults:\n  - chat\n  - _self_\n\nchat_template: |\n{indented}"
    )
    run_dir = tmp_path / "run"
    result = run_tuneforge(
        "train",
        "--config-dir",
        "conf",
        "data=my_chat",
        f"model.path={model}",
        f"data.path={chats}",
        "data.val_fraction=0.4",
        "trainer.max_epochs=1",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "metrics.json").exists()
