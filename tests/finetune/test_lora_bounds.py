"""LoRA's bounds, one table: `add_lora` and the config check refuse the same values, saying the
same thing, and the config check reads them without loading torch."""

import subprocess
import sys

import pytest

from tuneforge.finetune.lora_bounds import LORA_BOUNDS, check_lora_settings
from tuneforge.run.config_rules import broken_rule

GOOD = {"lora_rank": 8, "lora_alpha": 16.0, "lora_dropout": 0.0}


@pytest.mark.parametrize(
    ("name", "value"),
    [("lora_rank", 0), ("lora_alpha", 0.0), ("lora_alpha", -1.0), ("lora_dropout", 1.0)],
)
def test_add_lora_and_the_config_check_refuse_the_same_values_alike(name, value):
    settings = {**GOOD, name: value}
    with pytest.raises(ValueError) as refused:
        check_lora_settings(settings["lora_rank"], settings["lora_alpha"], settings["lora_dropout"])
    allowed = LORA_BOUNDS[name][0]
    assert str(refused.value) == f"{name}={value!r} is not possible; use {allowed}"
    assert broken_rule(name, value).allowed == allowed


def test_the_usual_values_pass_both():
    check_lora_settings(GOOD["lora_rank"], GOOD["lora_alpha"], GOOD["lora_dropout"])
    assert all(broken_rule(name, value) is None for name, value in GOOD.items())


@pytest.mark.parametrize("rank", [4.0, True, "8"])
def test_a_rank_that_is_not_an_integer_is_refused(rank):
    with pytest.raises(ValueError, match=r"^lora_rank=.* is not possible; use an integer >= 1"):
        check_lora_settings(rank, 16.0, 0.0)


def test_the_config_check_reads_the_bounds_without_torch():
    code = (
        "import sys\n"
        "from tuneforge.run.config_rules import RULES\n"
        "assert 'lora_rank' in RULES\n"
        "print(sorted(m for m in ('torch', 'peft') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
