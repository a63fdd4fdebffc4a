"""Config checks: types against annotations, rules by name, and binding `_target_` arguments."""

from typing import Literal, Optional

import pytest
from omegaconf import OmegaConf

from tuneforge.errors import ConfigError
from tuneforge.models import CNN
from tuneforge.run.config_types import conforms, describe
from tuneforge.run.validate import TRAIN_SCHEMA, check_target, validate


@pytest.mark.parametrize(
    ("value", "annotation", "ok"),
    [
        (3, int, True),
        (True, int, False),
        ("ten", Optional[int], False),  # noqa: UP045 (libraries still write it)
        (None, Optional[int], True),  # noqa: UP045
        (3, float, True),
        ("3", float, False),
        ("bf16-mixed", Literal["bf16-mixed", "32-true"] | None, True),
        ("bf17", Literal["bf16-mixed", "32-true"] | None, False),
        ([1, 2], list[int], True),
        ([0.9], tuple[float, float], False),
        ([0.9, 0.99], tuple[float, float], True),
        ({"a": 1}, list[int], False),
        ({"_target_": "x.Y"}, int, True),
        (object(), "ForwardRef", True),
    ],
)
def test_conforms(value, annotation, ok):
    assert conforms(value, annotation) is ok


def test_describe_merges_literals_into_one_list():
    assert describe(Optional[int]) == "an integer or null"  # noqa: UP045
    assert describe(Literal["a", "b"] | int | None) == "one of 'a', 'b' or an integer or null"


def cnn_node(**kwargs) -> dict:
    return {"_target_": "tuneforge.models.CNN", **kwargs}


def test_check_target_accepts_a_good_node():
    assert check_target("model", cnn_node(width=8, depth=2), {"num_classes", "input_shape"}) == []


@pytest.mark.parametrize(
    ("node", "fragment"),
    [
        (
            cnn_node(widht=8),
            "model.widht is not an argument of tuneforge.models.CNN; did you mean ",
        ),
        (cnn_node(width="wide"), "model.width='wide' is not valid; tuneforge.models.CNN expects"),
        (cnn_node(width=0), "model.width=0 is not valid; expected an integer >= 1"),
        (cnn_node(dropout=1.5), "model.dropout=1.5 is not valid; expected a number in [0, 1)"),
        (cnn_node(num_classes=3), "model.num_classes is set by tuneforge from the data"),
        ({"_target_": "tuneforge.models.Nope"}, "cannot be imported"),
    ],
)
def test_check_target_names_key_value_and_fix(node, fragment):
    problems = check_target("model", node, {"num_classes", "input_shape"})
    assert len(problems) == 1
    assert fragment in problems[0]


def test_required_argument_not_given_by_config_or_data():
    problems = check_target("model", cnn_node(), {"input_shape"})
    assert problems == [
        "model.num_classes is required by tuneforge.models.CNN; set model.num_classes=VALUE"
    ]


def test_validate_reports_every_problem_at_once():
    cfg = OmegaConf.create(
        {
            "seed": "x",
            "monitor": {"metric": "val/acc", "mode": "up"},
            "test": True,
            "optimizer": {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": -1},
        }
    )
    with pytest.raises(ConfigError) as error:
        validate(cfg, TRAIN_SCHEMA)
    assert len(error.value.lines) == 3
    assert "seed='x'" in error.value.lines[0]


def test_missing_value_is_named():
    with pytest.raises(ConfigError, match=r"ckpt_path is required; set ckpt_path=VALUE"):
        validate(OmegaConf.create({"ckpt_path": "???"}))


def test_cnn_signature_is_what_the_rules_see():
    # The rules and the type check read real signatures: keep this model's contract in view.
    assert CNN.__init__.__annotations__["width"] is int
