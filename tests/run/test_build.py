"""build() in-process, without Hydra's global state: what it wires and what it refuses."""

import logging

import pytest
import torch

from tuneforge.errors import ConfigError
from tuneforge.run.build import build
from tuneforge.tasks import ClassificationTask
from tuneforge.tasks.param_groups import decay_groups

from ..conftest import compose_config


def test_build_sizes_the_model_from_the_data(tmp_path):
    built = build(compose_config("train", ["model=mlp"]), tmp_path)
    assert isinstance(built.task, ClassificationTask)
    assert built.model.get_classifier().out_features == 10
    assert built.config["paths"]["output_dir"] == str(tmp_path)


def test_channels_last_puts_weights_and_batches_in_that_order_and_trains(tmp_path):
    built = build(compose_config("train", ["channels_last=true", "debug=fast"]), tmp_path)
    convolutions = [m for m in built.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convolutions
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convolutions)
    seen = []
    # The last convolution's input has many channels: a one-channel image is both orders at once.
    convolutions[-1].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert seen[0].shape[1] > 1 and not seen[0].is_contiguous()
    assert seen[0].is_contiguous(memory_format=torch.channels_last)
    assert built.trainer.global_step == 1


def test_mixup_reaches_the_task_and_trains(tmp_path):
    cfg = compose_config("train", ["augmentation.mixup_alpha=0.2", "debug=fast"])
    built = build(cfg, tmp_path)
    assert built.task.batch_transform is not None
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert built.trainer.global_step == 1


def test_mixup_on_regression_data_is_refused(tmp_path):
    rows = "\n".join(f"{i / 7:.3f},{i * 0.5 + 1}" for i in range(60))
    (tmp_path / "t.csv").write_text("x,y\n" + rows + "\n")
    overrides = ["data=csv", f"data.path={tmp_path / 't.csv'}", "data.target=y", "model=mlp"]
    overrides += ["task=regression", "monitor.metric=val/mse", "monitor.mode=min"]
    with pytest.raises(ConfigError, match="mix class labels"):
        build(compose_config("train", [*overrides, "augmentation.cutmix_alpha=1.0"]), tmp_path)
    assert build(compose_config("train", overrides), tmp_path).task.target_std > 0


def test_lora_logs_what_trains_and_the_optimizer_gets_only_that(lora_run, tmp_path, caplog):
    overrides = ["finetune=lora", f"finetune.checkpoint={lora_run.pretrained}"]
    with caplog.at_level(logging.INFO):
        built = build(compose_config("train", overrides), tmp_path)
    trainable = {n for n, p in built.model.named_parameters() if p.requires_grad}
    assert {n for n in trainable if ".lora_" not in n} == {"head.fc.weight", "head.fc.bias"}
    counts = [
        sum(p.numel() for p in built.model.parameters() if p.requires_grad is t)
        for t in (True, False)
    ]
    assert (
        f"Fine-tuning (lora): {counts[0]:,} parameters train, {counts[1]:,} frozen" in caplog.text
    )
    assert "LoRA on 4 layers: blocks.0.0.0, blocks.0.1.0, blocks.1.0.0, blocks.1.1.0" in caplog.text
    optimized = [p for group in decay_groups(built.model) for p in group["params"]]
    assert len(optimized) == len(trainable)


def test_a_lora_run_keeps_the_pretrained_weights_and_evals_the_same(lora_run, tmp_path):
    from tuneforge.cli import evaluate
    from tuneforge.finetune import read_weights

    state = torch.load(lora_run.run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    trained = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    for name, tensor in read_weights(lora_run.pretrained).items():
        # An adapted convolution keeps its pretrained weight under base_layer.
        kept = trained.get(name.replace(".weight", ".base_layer.weight"), trained.get(name))
        assert torch.equal(kept, tensor) != name.startswith("head."), name  # only the head moved
    assert sum(".lora_A." in name for name in trained) == 4  # the CNN's four convolutions
    overrides = [f"ckpt_path={lora_run.run_dir}", f"paths.output_dir={tmp_path}"]
    overrides.append("trainer.limit_test_batches=2")  # the batches the run was tested on
    scored = evaluate.run(compose_config("eval", overrides), tmp_path)
    assert scored["test/acc"] == lora_run.metrics["test/acc"]


TEXTS = ["data=text_classification", "data.path=TMP/texts.csv", "data.text_column=text"]
TEXTS += ["data.label_column=label"]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["finetune.lora_rank=0"], ["finetune.lora_rank=0 is not valid", ">= 1"]),
        (["finetune.lora_targets=attn"], ["finetune.lora_targets='attn' finds no module in CNN"]),
        (["model=lstm", *TEXTS], ["finds no Linear or Conv layer", "embed (Embedding)"]),
    ],
)
def test_impossible_lora_settings_are_one_config_error(overrides, words, tmp_path):
    rows = "\n".join(f"{'good fun' if i % 2 else 'bad day'} {i},{i % 2}" for i in range(40))
    (tmp_path / "texts.csv").write_text("text,label\n" + rows + "\n")
    overrides = [o.replace("TMP", str(tmp_path)) for o in overrides]
    with pytest.raises(ConfigError) as refused:
        build(compose_config("train", ["finetune.strategy=lora", *overrides]), tmp_path)
    assert len(refused.value.lines) == 1
    for word in words:
        assert word in refused.value.lines[0]


@pytest.mark.parametrize(
    ("overrides", "checkpointing", "progress_bar"),
    [
        (["callbacks=none"], False, False),
        (["callbacks=none", "+trainer.enable_progress_bar=true"], False, True),
        ([], True, True),
    ],
)
def test_callbacks_none_means_no_checkpoint_and_no_bar_unless_the_trainer_asks(
    overrides, checkpointing, progress_bar, tmp_path
):
    trainer = build(compose_config("train", overrides), tmp_path).trainer
    assert (trainer.checkpoint_callback is not None) == checkpointing
    assert (trainer.progress_bar_callback is not None) == progress_bar


def test_a_fused_optimizer_trains_and_under_mixed_precision_with_clipping_trains_unfused(
    tmp_path, caplog
):
    fused = ["optimizer=adamw", "optimizer.fused=true", "debug=fast"]
    built = build(compose_config("train", fused), tmp_path / "fused")
    built.trainer.fit(built.task, datamodule=built.datamodule)
    assert built.trainer.optimizers[0].defaults["fused"] is True
    assert built.trainer.global_step == 1
    clipped = [*fused, "trainer.precision=bf16-mixed", "trainer.gradient_clip_val=1.0"]
    with caplog.at_level(logging.WARNING):
        built = build(compose_config("train", clipped), tmp_path / "clipped")
    assert "optimizer.fused=true cannot clip gradients under trainer.precision=bf16-mixed" in (
        caplog.text
    )
    built.trainer.fit(built.task, datamodule=built.datamodule)  # Lightning raised here when fused
    assert not built.trainer.optimizers[0].defaults["fused"]
    assert built.trainer.global_step == 1
    assert built.config["optimizer"]["fused"] is True  # the run's config says what was asked
