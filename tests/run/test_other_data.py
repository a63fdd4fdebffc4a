"""`eval data=CHOICE`: the chosen data's facts against those the checkpoint's model was sized by."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tuneforge.errors import DataError
from tuneforge.run.other_data import check_data_fits, check_unbuilt, chosen

CKPT = Path("run/checkpoints/best.ckpt")
DIGITS = {"input_shape": [1, 8, 8], "num_classes": 10}
TEXT = {"vocab_size": 65, "block_size": 64, "chars_per_token": 1.0, "task": "language_modeling"}
LABELLED = {"vocab_size": 900, "num_classes": 3, "max_length": 64, "pad_id": 0, "task": "x"}
TABLE = {"input_shape": [4], "num_classes": 2, "task": "classification"}
REGRESSION = {"input_shape": [5], "num_outputs": 1, "task": "regression", "target_mean": 0.0}


@pytest.mark.parametrize(
    ("spec", "described"),
    [
        (TEXT, "text (a vocabulary of 65)"),
        (LABELLED, "labelled text (a vocabulary of 900, 3 classes)"),
        (TABLE, "a table (4 input columns, 2 classes)"),
        (REGRESSION, "a table (5 input columns, a number to predict)"),
    ],
)
def test_data_of_another_kind_is_named_with_both_kinds(spec, described):
    with pytest.raises(DataError) as refused:
        check_data_fits(DIGITS, spec, CKPT, "data=other")
    assert str(refused.value) == (
        f"eval data=other gives {described}, but the model of ckpt_path '{CKPT}' was trained "
        "on images (1x8x8, 10 classes); choose data of the same kind"
    )


def test_data_of_the_same_kind_and_other_sizes_names_the_facts():
    other = {"input_shape": (1, 28, 28), "num_classes": 10, "class_names": ["a"] * 10}
    with pytest.raises(DataError, match=r"it has input_shape=\[1, 28, 28\], the model was "):
        check_data_fits(DIGITS, other, CKPT, "data=fashion_mnist")


def test_data_that_fits_and_a_checkpoint_without_facts_pass():
    check_data_fits(DIGITS, {"input_shape": (1, 8, 8), "num_classes": 10}, CKPT, "data=digits")
    check_data_fits(None, TEXT, CKPT, "data=text_lm")


def test_data_a_model_could_not_be_built_on_is_read_again_to_say_why():
    digits = OmegaConf.create({"_target_": "tuneforge.data.DigitsDataModule"})
    with pytest.raises(DataError, match="eval data=DigitsDataModule gives images"):
        check_unbuilt(TEXT, digits, None, CKPT)
    check_unbuilt(DIGITS, digits, None, CKPT)  # it fits: build()'s own error is the one to show


def test_data_that_cannot_be_read_leaves_builds_error_to_show(tmp_path):
    missing = OmegaConf.create(
        {"_target_": "tuneforge.data.TextLMDataModule", "path": str(tmp_path / "none.txt")}
    )
    check_unbuilt(DIGITS, missing, None, CKPT)


def test_the_choice_is_named_by_its_class_without_a_hydra_job():
    assert chosen(OmegaConf.create({"_target_": "tuneforge.data.CSVDataModule"})) == (
        "data=CSVDataModule"
    )
