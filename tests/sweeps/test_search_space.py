"""hydra-optuna-sweeper's `params:` syntax, read by Hydra's parser, as Optuna distributions."""

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tuneforge.errors import ConfigError
from tuneforge.sweeps.search_space import as_override, parse_search_space, quoted


def space_of(value: str):
    return parse_search_space({"x": value}, []).distributions["x"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("interval(0.1, 0.5)", FloatDistribution(0.1, 0.5)),
        ("interval(1, 5)", FloatDistribution(1.0, 5.0)),  # interval() gives floats, as in Hydra
        ("int(interval(1, 5))", IntDistribution(1, 5)),
        ("tag(log, interval(1e-4, 1e-1))", FloatDistribution(1e-4, 1e-1, log=True)),
        ("tag(log, int(interval(8, 256)))", IntDistribution(8, 256, log=True)),
        ("choice(16, 32, 64)", CategoricalDistribution([16, 32, 64])),
        ("choice(adam, sgd)", CategoricalDistribution(["adam", "sgd"])),
        ("choice(true, false)", CategoricalDistribution([True, False])),
        ("choice([1, 2], [3])", CategoricalDistribution(["[1,2]", "[3]"])),
        ("16,32", CategoricalDistribution([16, 32])),
        ("range(1, 5)", IntDistribution(1, 4)),  # the stop is excluded, as Hydra's range does
        ("range(0, 10, 3)", IntDistribution(0, 9, step=3)),
        ("range(0.5, 2.0, 0.5)", FloatDistribution(0.5, 1.5, step=0.5)),
        ("shuffle(range(1, 4))", CategoricalDistribution([1, 2, 3])),
    ],
)
def test_every_form_becomes_its_distribution(value, expected):
    got = space_of(value)
    if isinstance(expected, CategoricalDistribution) and "shuffle" in value:
        assert sorted(got.choices) == sorted(expected.choices)
    else:
        assert got == expected


def test_plain_values_are_fixed_and_the_command_line_wins():
    space = parse_search_space(
        {"optimizer.lr": "interval(1e-4, 1e-2)", "model.width": "choice(16, 32)", "seed": "3"},
        ["model.width=48", "model.depth=choice(1,2)", "logger=none"],
    )
    assert set(space.distributions) == {"optimizer.lr", "model.depth"}
    assert space.fixed == ["seed=3", "model.width=48", "logger=none"]


def test_grid_lists_every_value_and_refuses_an_interval():
    space = parse_search_space({"a": "choice(x, y)", "b": "range(1, 7, 2)"}, [])
    assert space.grid() == {"a": ["x", "y"], "b": [1, 3, 5]}
    with pytest.raises(ConfigError, match="sampler=grid needs choice"):
        parse_search_space({"lr": "interval(0.1, 0.2)"}, []).grid()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("interval(1e-4,", "cannot parse"),
        ("choice(a, null)", "NoneType is incompatible"),
        ("interval(0.5, 0.1)", "is empty"),
        ("tag(log, interval(0, 1))", "log scale"),
        ("range(5, 1)", "holds no value"),
    ],
)
def test_bad_params_name_the_key_and_the_syntax(value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        space_of(value)
    (line,) = caught.value.lines
    assert line.startswith("hydra.sweeper.params.x:")


def test_sampled_values_render_as_overrides_hydra_reads_back():
    assert as_override("lr", 1e-05) == "lr=1e-05"
    assert as_override("flag", True) == "flag=true"
    assert as_override("opt", None) == "opt=null"
    assert as_override("model", "mlp") == "model=mlp"
    url = "postgresql://u:p@127.0.0.1:5432/db?sslmode=disable"
    (override,) = parse_search_space(None, [f"storage={quoted(url)}"]).fixed
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert OverridesParser.create().parse_override(override).value() == url
