"""What a checkpoint stores beside its weights is checked as data: types, sizes, and that the
tokenizer fits the model."""

import json

import pytest
import torch

from tuneforge.data.tokenizers import CharTokenizer
from tuneforge.run.stored_data import StoredDataError, check_stored_data


def checkpoint(**changes) -> dict:
    """A text GPT's checkpoint as `tuneforge train` writes it, with `changes` to its parts."""
    tokenizer = CharTokenizer("abc").to_json()
    stored = {
        "config": {
            "data": {"_target_": "tuneforge.data.TextLMDataModule"},
            "model": {"_target_": "tuneforge.models.GPT"},
        },
        "data_spec": {"vocab_size": 4, "block_size": 8, "task": "language_modeling"},
    }
    made = {
        "state_dict": {"model.wte.weight": torch.zeros(4, 2)},
        "tuneforge": stored,
        "TextLMDataModule": {"tokenizer": tokenizer},
    }
    for key, value in changes.items():
        part, _, name = key.partition("__")
        target = made if part == "top" else (stored if part == "stored" else stored[part])
        target[name] = value
    return made


def test_a_checkpoint_as_written_passes():
    check_stored_data(checkpoint())  # one from before data_spec held eos_id too
    check_stored_data(checkpoint(data_spec__eos_id=3))


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"data_spec__vocab_size": -1}, "data_spec.vocab_size=-1 is not a positive integer"),
        ({"data_spec__vocab_size": True}, "data_spec.vocab_size=True is not a positive integer"),
        ({"data_spec__block_size": 2**40}, "data_spec.block_size"),
        ({"data_spec__input_shape": [3, -1, 2]}, "data_spec.input_shape=[3, -1, 2]"),
        ({"data_spec__input_shape": [2**15, 2**15]}, "data_spec.input_shape"),
        ({"data_spec__pad_id": 9}, "data_spec.pad_id=9 is outside the vocabulary of 4"),
        ({"data_spec__eos_id": 4}, "data_spec.eos_id=4 is outside the vocabulary of 4"),
        ({"data_spec__eos_id": "</s>"}, "data_spec.eos_id='</s>' is not an id >= 0"),
        ({"data_spec__eos_id": 1.0}, "data_spec.eos_id=1.0 is not an id >= 0"),
        (
            {"data_spec__vocab_size": 9, "data_spec__eos_id": 5},
            "data_spec.eos_id=5 is outside its tokenizer's 4 tokens",
        ),
        ({"data_spec__class_names": "cats"}, "data_spec.class_names='cats' is not a list"),
        ({"stored__data_spec": "big"}, "its data facts are a str"),
        ({"stored__config": []}, "holds no config mapping"),
        ({"config__data": {"_target_": 3}}, "its config has no data component"),
        ({"top__state_dict": {"model.w": [1.0]}}, "its state_dict is not a mapping"),
        ({"top__TextLMDataModule": "tokenizer"}, "its data state is a str"),
        ({"top__TextLMDataModule": {"tokenizer": b"{}"}}, "its tokenizer is a bytes"),
        ({"top__TextLMDataModule": {"tokenizer": "{}"}}, "its tokenizer cannot be read"),
        (
            {"top__TextLMDataModule": {"tokenizer": CharTokenizer("abcdefg").to_json()}},
            "its tokenizer has 8 tokens but the model's vocabulary only 4",
        ),
        ({"top__callbacks": {"ResumeState": {"random": {}}}}, "its saved random states"),
    ],
    ids=str,
)
def test_stored_data_of_the_wrong_type_or_size_is_refused(changes, fragment):
    with pytest.raises(StoredDataError) as raised:
        check_stored_data(checkpoint(**changes))
    assert fragment in str(raised.value)
    assert "\n" not in str(raised.value)


def test_class_names_must_be_as_many_as_the_classes():
    made = checkpoint(data_spec__num_classes=3, data_spec__class_names=["a", "b"])
    with pytest.raises(StoredDataError, match="names 2 classes but num_classes=3"):
        check_stored_data(made)
    image_state = {"class_names": ["a"], "mean": [0.5], "std": [0.2]}
    made = checkpoint(data_spec__num_classes=3, top__TextLMDataModule=image_state)
    with pytest.raises(StoredDataError, match=r"class_names \(\['a'\]\) are not 3 names"):
        check_stored_data(made)


def test_random_states_as_resume_saves_them_pass():
    from tuneforge.callbacks.resume import random_states

    made = checkpoint(top__callbacks={"ResumeState": {"random": random_states()}})
    check_stored_data(made)
    assert json.loads(made["TextLMDataModule"]["tokenizer"])["type"] == "char"
