"""The README's commands work as written: the two make targets and every `tuneforge` line."""

import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from .conftest import MINILM, REPO, SHAKESPEARE, TWEETS, run_tuneforge

README = (REPO / "README.md").read_text()


def readme_section(heading: str) -> str:
    """The README's text from `## heading` to the next `## ` heading."""
    start = README.index(f"## {heading}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end >= 0 else None]


def readme_commands(program: str, text: str = README) -> list[str]:
    # Fences at the start of a line; a ```python block holds no commands.
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)
    blocks = [body for language, body in fenced if language in ("", "bash")]
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(program + " ")]


# Its commands run in order, on the real SmolLM2 weights, in tests/llm/test_readme_section.py.
LLM_SECTION = "Fine-tune a language model"
# Its commands run in order, on Debian's GCIDE, in tests/e2e/test_readme_pretrain.py.
PRETRAIN_SECTION = "Pretrain a language model at scale"
# Its commands run on the one-node cluster the tests start, in tests/e2e/test_slurm.py.
CLUSTER_SECTION = "Clusters"


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```\n(.*?)```", README, flags=re.S).group(1).splitlines()
    assert [line.split("#")[0].strip() for line in first_block] == ["make train", "make test"]


def test_make_targets_and_ci_run_what_the_readme_says():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^train: .*\n\t\$\(BIN\)/tuneforge train", makefile, flags=re.M)
    assert re.search(r"^test: .*\n(\t.*\n)*\t\$\(BIN\)/python -m pytest", makefile, flags=re.M)
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test")


ELSEWHERE = {
    command
    for section in (LLM_SECTION, PRETRAIN_SECTION, CLUSTER_SECTION)
    for command in readme_commands("tuneforge", readme_section(section))
}
RUNNABLE = [
    # Debian's Fashion-MNIST (`make test` installs it)
    pytest.param(c, marks=pytest.mark.system) if "fashion" in c else c
    for c in readme_commands("tuneforge")
    if "DATE_TIME" not in c and "..." not in c and c not in ELSEWHERE
]
# Files the README tells its reader to fetch, as the tests find them on this machine.
FILES = {"tinyshakespeare.txt": SHAKESPEARE, "tweets.csv": TWEETS, "all-MiniLM-L6-v2": MINILM}


def test_readme_copies_the_tweets_the_tests_read(tmp_path):
    (command,) = [c for c in readme_commands("python") if "'tweets.csv'" in c]
    args = shlex.split(command)[1:]
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tweets.csv").read_bytes() == TWEETS.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("command", RUNNABLE)
def test_readme_tuneforge_command_runs(command, tmp_path):
    args = shlex.split(command)[1:]
    quick = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    quick += ["trainer.limit_test_batches=2"]
    if args[:1] == ["train"] and "--cfg" not in args and "--help" not in args:
        args += [a for a in quick if a.split("=")[0] not in command]
        if "-m" not in args and "hydra.run.dir" not in command:
            args += [f"hydra.run.dir={tmp_path / 'run'}"]
    for name, source in FILES.items():
        if name in command:
            copy = shutil.copytree if source.is_dir() else shutil.copy
            copy(source, tmp_path / name)
    result = run_tuneforge(*args, cwd=tmp_path)
    assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"


def test_readme_error_example_is_what_the_command_prints(tmp_path):
    example = re.search(r"\$ (tuneforge .*)\n(error: .*)\n", README)
    result = run_tuneforge(*shlex.split(example.group(1))[1:], cwd=tmp_path)
    assert result.stderr.strip() == example.group(2)


def test_readme_says_where_eval_and_predict_write():
    for verb in ("eval", "predict"):
        verb_config = yaml.safe_load((REPO / "conf" / f"{verb}.yaml").read_text())
        assert verb_config["hydra"]["job"]["name"] == verb  # runs go to outputs/JOB_NAME/
        assert f"`outputs/{verb}/DATE_TIME/`" in README


def test_readme_names_the_data_that_reads_no_predict_input():
    from hydra.utils import get_object

    sentence = README[README.index("`data=fashion_mnist`, `mnist`") :].split(" read no input")[0]
    named = set(re.findall(r"`(?:data=)?(\w+)`", sentence))
    for config in sorted((REPO / "conf" / "data").glob("*.yaml")):
        if config.stem in ("chat", "instruct"):  # answered by the causal LM, not read_inputs
            continue
        target = yaml.safe_load(config.read_text())["_target_"]
        reads = hasattr(get_object(target), "read_inputs")
        assert (config.stem in named) != reads, config.stem
