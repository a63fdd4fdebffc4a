"""trainer=fsdp: the auto-wrap policy names our transformer blocks in YAML."""

import pytest
from torch import nn

from tuneforge.errors import ConfigError
from tuneforge.models import gpt, llama
from tuneforge.run.build import _instantiate

from ..conftest import compose_config


def test_fsdp_wraps_each_transformer_block_as_one_unit():
    cfg = compose_config("train", ["trainer=fsdp", "trainer.strategy.checkpoint_activations=true"])
    strategy = _instantiate(cfg.trainer.strategy, "trainer.strategy")
    assert strategy.kwargs["auto_wrap_policy"]._module_classes == {
        gpt.Block,
        llama.Block,
        nn.TransformerEncoderLayer,
    }
    assert strategy._activation_checkpointing_kwargs  # the same blocks recompute activations
    assert str(strategy.sharding_strategy) == "ShardingStrategy.FULL_SHARD"


def test_a_wrap_class_that_does_not_import_is_one_line_naming_it():
    cfg = compose_config("train", ["trainer=fsdp", "trainer.strategy.wrap=[tuneforge.models.Blok]"])
    with pytest.raises(ConfigError) as error:
        _instantiate(cfg.trainer.strategy, "trainer.strategy")
    (line,) = error.value.lines
    assert "trainer.strategy: wrap names 'tuneforge.models.Blok'" in line
    assert "module.Class" in line


def test_configs_naming_the_former_home_of_fsdp_still_build():
    cfg = compose_config(
        "train", ["trainer=fsdp", "trainer.strategy._target_=tuneforge.cli.strategies.fsdp"]
    )
    strategy = _instantiate(cfg.trainer.strategy, "trainer.strategy")
    assert gpt.Block in strategy.kwargs["auto_wrap_policy"]._module_classes
