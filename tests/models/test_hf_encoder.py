"""A Hugging Face encoder with our head: the backbone interface, padding, real MiniLM weights."""

import re

import pytest
import torch

from tuneforge.finetune import load_pretrained
from tuneforge.models import HFEncoderClassifier

from ..conftest import MINILM


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    from transformers import BertConfig

    folder = tmp_path_factory.mktemp("tiny_bert")
    BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    ).save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_interface_and_padding_invariance(tiny_bert, pooling):
    torch.manual_seed(0)
    model = HFEncoderClassifier(tiny_bert, num_classes=3, pooling=pooling).eval()
    ids = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    logits = model(ids)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(logits, model.forward_head(model.forward_features(ids)))
    assert model.forward_head(model.forward_features(ids), pre_logits=True).shape == (2, 16)
    torch.testing.assert_close(model(ids[:1, :3]), logits[:1], atol=1e-5, rtol=1e-5)
    assert model.get_classifier() is model.head.fc
    model.reset_classifier(5)
    assert model(ids).shape == (2, 5)
    matcher = model.group_matcher()
    for name, _ in model.named_parameters():
        grouped = re.match(matcher["stem"], name) or re.match(matcher["blocks"], name)
        assert grouped or name.startswith("head."), name


def test_a_folder_without_config_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"holds no config\.json; point model\.path at"):
        HFEncoderClassifier(str(tmp_path), num_classes=2)


def test_real_minilm_weights_load_with_a_report():
    model = HFEncoderClassifier(str(MINILM), num_classes=3)
    report = load_pretrained(model, MINILM, strict=True)
    assert len(report.matched) == 101  # every weight of the embeddings and the six layers
    # unused here: the pooler, and position ids that newer transformers compute, not store
    assert set(report.unexpected) == {
        "pooler.dense.bias",
        "pooler.dense.weight",
        "embeddings.position_ids",
    }
    assert report.missing == ["head.fc.weight", "head.fc.bias"] and report.head_reset
