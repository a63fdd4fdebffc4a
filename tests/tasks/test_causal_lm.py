"""The causal-LM task's loss: a token mean over trained tokens only, the same for a packed batch
as for the same examples unpacked, and checkpoints that leave a frozen base out."""

import numpy as np
import pytest
import torch

from tuneforge.data.chat_packing import collate, pack
from tuneforge.data.chat_tokens import IGNORE, ChatExample
from tuneforge.errors import CheckpointError
from tuneforge.models import HFCausalLM
from tuneforge.tasks import CausalLMTask
from tuneforge.tasks.causal_lm import BASE_KEY, drop_frozen_base, restore_frozen_base

from ..llm._tiny import save_model_folder


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> HFCausalLM:
    return HFCausalLM(str(save_model_folder(tmp_path_factory.mktemp("tiny_llama"))))


def _example(length: int, seed: int) -> ChatExample:
    """Random ids; the second half trained, as a reply after its prompt."""
    ids = np.random.default_rng(seed).integers(5, 300, size=length)
    labels = np.where(np.arange(length) >= length // 2, ids, IGNORE)
    return ChatExample(ids, labels)


def test_a_packed_batch_has_the_loss_of_the_same_examples_unpacked(model):
    task = CausalLMTask(model, optimizer=None)
    examples = [_example(n, seed) for seed, n in enumerate((9, 14, 5, 11, 7))]
    unpacked = collate(examples, pad_id=2, pad_to_multiple_of=8)
    rows = pack(examples, max_length=24)
    assert len(rows) < len(examples)  # several examples share a row
    packed = collate(rows, pad_id=2)
    with torch.no_grad():
        loss, count = task.token_loss(unpacked)
        packed_loss, packed_count = task.token_loss(packed)
    assert int(count) == int(packed_count) == sum(len(e) - len(e) // 2 for e in examples)
    torch.testing.assert_close(packed_loss, loss, rtol=0, atol=1e-5)


def test_the_loss_is_a_mean_over_trained_tokens_alone(model):
    task = CausalLMTask(model, optimizer=None)
    example = _example(10, 0)
    batch = collate([example], pad_id=2, pad_to_multiple_of=16)  # 6 padded positions
    with torch.no_grad():
        loss, count = task.token_loss(batch)
        logits = model(batch["input_ids"][:, :10])[0, :-1]
    targets = torch.as_tensor(example.labels[1:])
    trained = targets != IGNORE
    expected = torch.nn.functional.cross_entropy(logits[trained], targets[trained])
    assert int(count) == int(trained.sum()) == 5
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-6)


def test_a_checkpoint_leaves_the_frozen_base_out_and_gets_it_back(model):
    for name, parameter in model.named_parameters():
        parameter.requires_grad = "layers.1.mlp" in name  # one layer trains
    state = {f"model.{k}": v.clone() for k, v in model.state_dict().items()}
    checkpoint = {"state_dict": dict(state)}
    drop_frozen_base(checkpoint, model, "model.")
    assert all("layers.1.mlp" in name for name in checkpoint["state_dict"])
    assert checkpoint[BASE_KEY]["sha256"] == model.weights_sha256
    restore_frozen_base(checkpoint, model, "model.")
    assert checkpoint["state_dict"].keys() == state.keys()
    forged = {"state_dict": {}, BASE_KEY: {**checkpoint[BASE_KEY], "sha256": "0" * 64}}
    with pytest.raises(CheckpointError, match=r"point model\.path at the base it was trained on"):
        restore_frozen_base(forged, model, "model.")
    with pytest.raises(CheckpointError, match="not a list of names"):
        restore_frozen_base({"state_dict": {}, BASE_KEY: {"keys": "all"}}, model, "model.")
