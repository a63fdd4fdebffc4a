"""Options that compose with any trainer: precision, gradient accumulation, TF32."""

import logging

import pytest
import torch

from tuneforge.run.build import build
from tuneforge.run.device import use_tf32

from ..conftest import compose_config

# The MLP without dropout: its step is a function of the batch alone (BatchNorm would normalise
# each micro-batch by its own statistics, and dropout draws other masks).
QUICK = [
    "model=mlp",
    "model.dropout=0",
    "trainer.max_epochs=1",
    "trainer.limit_val_batches=1",
    "logger=none",
    "callbacks.progress_bar=null",
]


def _fitted(tmp_path, *overrides: str):
    built = build(compose_config("train", [*QUICK, *overrides]), tmp_path)
    built.trainer.fit(built.task, datamodule=built.datamodule)
    return built


@pytest.mark.slow
def test_bf16_mixed_trains_on_the_cpu(tmp_path):
    built = _fitted(tmp_path, "trainer.precision=bf16-mixed", "trainer.limit_train_batches=3")
    assert built.trainer.precision == "bf16-mixed"
    assert built.trainer.global_step == 3
    assert torch.isfinite(built.trainer.callback_metrics["val/loss"])


def test_16_mixed_on_the_cpu_says_in_one_line_that_it_trains_in_bf16(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        built = build(compose_config("train", [*QUICK, "trainer.precision=16-mixed"]), tmp_path)
    assert built.trainer.precision == "bf16-mixed"
    (said,) = [r.getMessage() for r in caplog.records if "precision" in r.getMessage()]
    assert "trainer.precision=16-mixed" in said and "training in bf16-mixed instead" in said


@pytest.mark.slow
def test_four_accumulated_batches_of_8_make_the_step_of_a_batch_of_32(tmp_path):
    # The loader's order is the same for both; Lightning divides each micro-batch's loss by 4, so
    # the summed gradients are the mean over 32 samples; the schedule counts optimizer steps
    # (trainer.estimated_stepping_batches), so the learning rates match step for step.
    accumulated = _fitted(
        tmp_path / "a",
        "data.batch_size=8",
        "trainer.accumulate_grad_batches=4",
        "trainer.limit_train_batches=24",
    )
    whole = _fitted(tmp_path / "w", "data.batch_size=32", "trainer.limit_train_batches=6")
    assert accumulated.trainer.global_step == whole.trainer.global_step == 6
    for (name, a), (_, w) in zip(
        accumulated.model.state_dict().items(), whole.model.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, w, atol=1e-5), name  # float sums taken in another order
    moved = build(compose_config("train", QUICK), tmp_path / "init").model.state_dict()
    assert any(not torch.equal(moved[k], v) for k, v in whole.model.state_dict().items())


@pytest.fixture
def gpu(monkeypatch):
    """A CUDA device of the given compute capability, as torch.cuda reports it."""

    def have(capability: tuple[int, int]) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *_: capability)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *_: "a GPU")

    before = torch.get_float32_matmul_precision()
    yield have
    torch.set_float32_matmul_precision(before)


@pytest.mark.parametrize(
    ("capability", "allowed", "expected"),
    [((8, 0), True, "high"), ((9, 0), False, "highest"), ((7, 5), True, "highest")],
)
def test_tf32_on_ampere_and_newer_unless_turned_off(gpu, capability, allowed, expected):
    torch.set_float32_matmul_precision("highest")
    gpu(capability)
    use_tf32({"accelerator": "gpu"}, allowed)
    assert torch.get_float32_matmul_precision() == expected


def test_tf32_is_not_touched_on_the_cpu(gpu):
    torch.set_float32_matmul_precision("highest")
    gpu((9, 0))
    use_tf32({"accelerator": "cpu"}, True)
    assert torch.get_float32_matmul_precision() == "highest"
