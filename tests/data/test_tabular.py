"""The CSV DataModule on messy tables: cleaning counts, training-only statistics, errors, state."""

import json
import random
import shutil
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import torch
from rich.console import Console
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    PowerTransformer,
    RobustScaler,
    StandardScaler,
)

from tests.data._faulty_tables import pet_rows, write_csv
from tuneforge.data.tabular import CSVDataModule

SPLITS = ("train", "val", "test")


def setup_csv(path, target: str = "label", **kwargs) -> CSVDataModule:
    datamodule = CSVDataModule(path=path, target=target, **kwargs)
    datamodule.setup("fit")
    return datamodule


@pytest.fixture
def messy(tmp_path):
    return write_csv(tmp_path / "pets.csv", pet_rows())


@pytest.fixture
def clean(tmp_path):
    return write_csv(tmp_path / "clean.csv", pet_rows(messy=False))


def rows_of_splits(datamodule: CSVDataModule, path) -> dict[str, list[int]]:
    """The CSV row of each example of each split, found by matching its features exactly."""
    everything = torch.cat([x for (x,) in datamodule.read_inputs(path)])
    found = {}
    for name in SPLITS:
        same = (datamodule.splits[name].inputs[:, None] == everything[None]).all(dim=2)
        assert (same.sum(dim=1) == 1).all()  # each example is exactly one row
        found[name] = same.int().argmax(dim=1).tolist()
    return found


def test_report_counts_what_cleaning_did(messy):
    dm = setup_csv(messy)
    report = json.loads(json.dumps(dm.report))  # plain data
    rows = report["rows"]
    assert rows["read"] == 63
    assert (rows["missing_target"], rows["duplicates"], rows["outliers"]) == (1, 3, 0)
    assert rows["train"] + rows["val"] + rows["test"] == 59
    columns = report["columns"]
    assert columns["id"] == {"kind": "id-dropped", "missing": 0}
    assert columns["weight"]["kind"] == "numeric" and columns["weight"]["missing"] == 3
    assert columns["weight"]["outliers_clipped"] == 1
    assert columns["weight"]["action"].startswith("filled with median")
    assert columns["color"] == {
        "kind": "categorical",
        "missing": 2,
        "action": "filled with 'red'",
        "categories": 2,  # ' Red', 'RED ' and 'red' are one color
    }
    assert report["classes"] == {"cat": 30, "dog": 29}
    assert report["task"] == "classification" and report["stratified"] is True
    assert dm.class_names == ("cat", "dog")
    assert dm.spec == {"input_shape": (4,), "num_classes": 2, "task": "classification"}


def test_loaders_give_float_features_and_class_indices(messy):
    dm = setup_csv(messy, batch_size=8)
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (8, 4) and y.dtype == torch.int64
    assert not torch.cat([dm.splits[name].inputs for name in SPLITS]).isnan().any()
    predicted = torch.cat([y for _, y in dm.predict_dataloader()])
    assert torch.equal(predicted, dm.labels("test"))


def test_report_table_lists_every_column(messy):
    table = setup_csv(messy).report_table()
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert table.row_count == 4 and "id-dropped" in text and "filled with median" in text


def test_missing_categories_can_be_a_category_of_their_own(messy):
    dm = setup_csv(messy, categorical_missing="category")
    assert dm.report["columns"]["color"]["categories"] == 3
    assert dm.state_dict()["categorical"]["vocab"] == [["<missing>", "blue", "red"]]
    assert dm.spec["input_shape"] == (5,)


def test_rows_missing_numbers_can_be_dropped(messy):
    dm = setup_csv(messy, numeric_missing="drop")
    rows = dm.report["rows"]
    assert rows["missing_numeric"] == 3
    assert rows["train"] + rows["val"] + rows["test"] == 56
    assert dm.report["columns"]["weight"]["action"] == "rows dropped"


def test_infinities_count_as_missing_numbers(tmp_path):
    rows = pet_rows(messy=False)
    for i, cell in {4: "inf", 9: "-inf", 13: "1e999", 20: "?"}.items():
        rows[i][2] = cell
    path = write_csv(tmp_path / "pets.csv", rows)
    weight = setup_csv(path).report["columns"]["weight"]
    assert (weight["missing"], weight["infinite"]) == (4, 3)
    dropped = setup_csv(path, numeric_missing="drop")
    assert dropped.report["rows"]["missing_numeric"] == 4
    assert all(dropped.splits[name].inputs.isfinite().all() for name in SPLITS)


def test_outliers_are_dropped_from_training_rows_only(tmp_path):
    path = write_csv(tmp_path / "pets.csv", pet_rows(outliers=(41, 43, 45, 47, 49, 51)))
    dm = setup_csv(path, outliers="drop")
    weight, rows = dm.report["columns"]["weight"], dm.report["rows"]
    assert weight["outliers_dropped"] == rows["outliers"] > 0
    assert weight["outliers_clipped"] + weight["outliers_dropped"] == 6
    assert rows["train"] + rows["val"] + rows["test"] == 59 - rows["outliers"]
    high = dm.state_dict()["numeric"]["high"][1]
    assert high < 100  # bounds from the quartiles, not moved by 99999


@pytest.mark.parametrize("method", ["iqr", "zscore"])
def test_outliers_are_clipped_to_training_bounds_or_kept(messy, method):
    def weights(dm: CSVDataModule) -> torch.Tensor:
        return torch.cat([dm.splits[name].inputs[:, 1] for name in SPLITS])

    clipped = setup_csv(messy, outlier_method=method, normalization="none")
    kept = setup_csv(messy, outliers="keep", outlier_method=method, normalization="none")
    assert clipped.report["columns"]["weight"]["outliers_clipped"] == 1
    assert kept.report["columns"]["weight"]["outliers_clipped"] == 0
    high = clipped.state_dict()["numeric"]["high"][1]
    assert weights(clipped).max().item() == pytest.approx(high) and high < 99999
    assert weights(kept).max().item() == 99999


def test_statistics_come_from_the_training_split_only(tmp_path, clean):
    before = setup_csv(clean)
    found = rows_of_splits(before, clean)
    held_out = {*found["val"], *found["test"]}
    rows = pet_rows(messy=False)
    for i in held_out:
        rows[i][2:4] = ["1000", "purple"]
    after = setup_csv(write_csv(tmp_path / "changed.csv", rows))
    for part in ("numeric", "categorical"):
        assert after.state_dict()[part] == before.state_dict()[part]
    assert after.report["columns"]["weight"]["outliers_clipped"] == len(held_out)
    assert torch.equal(after.splits["train"].inputs, before.splits["train"].inputs)
    # a color seen only outside training has no one-hot column: all zeros
    assert (after.splits["test"].inputs[:, 2:] == 0).all()
    assert not (before.splits["test"].inputs[:, 2:] == 0).all()


SCALERS = {
    "zscore": StandardScaler,
    "minmax": MinMaxScaler,
    "robust": RobustScaler,
    "yeo-johnson": PowerTransformer,
    "log1p": lambda: FunctionTransformer(np.log1p),
    "none": lambda: FunctionTransformer(None),
}


@pytest.mark.parametrize("normalization", list(SCALERS))
def test_normalization_matches_scikit_learn_on_the_training_rows(clean, normalization):
    dm = setup_csv(clean, normalization=normalization, outliers="keep")
    train_rows = rows_of_splits(dm, clean)["train"]
    raw = pd.read_csv(clean).loc[train_rows, ["age", "weight"]].to_numpy(np.float64)
    expected = SCALERS[normalization]().fit_transform(raw)
    got = dm.splits["train"].inputs[:, :2].double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def is_plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(map(is_plain, value))
    return value is None or type(value) in (str, int, float, bool)


@pytest.mark.parametrize("normalization", list(SCALERS))
def test_state_survives_torch_save_and_replaces_refitting(tmp_path, messy, normalization):
    fitted = setup_csv(messy, normalization=normalization)
    assert is_plain(fitted.state_dict())
    torch.save(fitted.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    other = "minmax" if normalization != "minmax" else "zscore"
    before_setup = CSVDataModule(messy, "label", normalization=other)
    before_setup.load_state_dict(state)
    before_setup.setup()
    after_setup = setup_csv(messy, normalization=other)  # fitted its own statistics first
    after_setup.load_state_dict(state)
    for restored in (before_setup, after_setup):
        assert restored.state_dict() == state
        for name in SPLITS:
            assert torch.equal(restored.splits[name].inputs, fitted.splits[name].inputs)
            assert torch.equal(restored.labels(name), fitted.labels(name))
    fresh = CSVDataModule(messy, "label")
    fresh.load_state_dict(state)  # read_inputs needs no setup, only the fitted state
    (x,) = next(iter(fresh.read_inputs(messy)))
    (expected,) = next(iter(fitted.read_inputs(messy)))
    assert torch.equal(x, expected)


def test_load_state_dict_refuses_what_is_not_a_state(messy):
    with pytest.raises(ValueError, match="not a CSVDataModule state"):
        CSVDataModule(messy, "label").load_state_dict({"mean": 0.0})


def test_split_depends_on_split_seed_only(messy):
    a, b = setup_csv(messy, split_seed=1), setup_csv(messy, split_seed=1)
    c = setup_csv(messy, split_seed=2)
    assert torch.equal(a.splits["test"].inputs, b.splits["test"].inputs)
    assert torch.equal(a.labels("train"), b.labels("train"))
    assert not torch.equal(a.splits["test"].inputs, c.splits["test"].inputs)


def test_read_inputs_cleans_cells_like_training(tmp_path, messy):
    dm = setup_csv(messy, batch_size=2)
    inputs = write_csv(
        tmp_path / "new.csv",
        [["21", " ?", " BLUE "], ["21", "", "blue"], ["21", "12.5", "purple"]],
        header=["age", "weight", "color"],  # no id, no target, another column order
    )
    batches = list(dm.read_inputs(inputs))
    assert [len(batch) for batch in batches] == [1, 1]  # 1-tuples (x,)
    x = torch.cat([batch[0] for batch in batches])
    assert x.shape == (3, 4) and torch.equal(x[0], x[1])
    assert x[2, 2:].tolist() == [0.0, 0.0]  # a color never seen in training
    numeric = dm.state_dict()["numeric"]
    filled = (numeric["fill"][1] - numeric["center"][1]) / numeric["scale"][1]
    assert x[0, 1].item() == pytest.approx(filled, rel=1e-5)
    assert len(torch.cat([x for (x,) in dm.read_inputs(messy)])) == 63  # no row dropped


def test_train_transforms_apply_to_training_rows_only(messy):
    plain, flipped = setup_csv(messy), setup_csv(messy, train_transforms=[torch.neg])
    assert torch.equal(flipped.splits["train"][0][0], -plain.splits["train"][0][0])
    assert torch.equal(flipped.splits["test"][0][0], plain.splits["test"][0][0])


def task_table(tmp_path, targets: list[str]):
    rows = [[f"{0.5 * i:.1f}", target] for i, target in enumerate(targets)]
    return write_csv(tmp_path / "task.csv", rows, header=["x", "y"])


@pytest.mark.parametrize(
    ("targets", "task"),
    [
        (["yes", "no"] * 10, "classification"),
        (["0", "1"] * 10, "classification"),
        ([str(i % 5) for i in range(60)], "classification"),
        ([str(i % 10) for i in range(60)], "regression"),  # 10 values, 6 rows each
        ([f"{i / 7:.3f}" for i in range(60)], "regression"),
    ],
)
def test_task_is_inferred_from_the_target(tmp_path, targets, task):
    assert setup_csv(task_table(tmp_path, targets), target="y").spec["task"] == task


def test_regression_targets_are_float_columns(tmp_path):
    dm = setup_csv(task_table(tmp_path, [f"{i / 7:.3f}" for i in range(60)]), target="y")
    spec = dm.spec
    train_targets = dm.labels("train").double()
    assert spec.pop("target_mean") == pytest.approx(train_targets.mean().item())
    assert spec.pop("target_std") == pytest.approx(train_targets.std(unbiased=False).item())
    assert spec == {"input_shape": (1,), "num_outputs": 1, "task": "regression"}
    assert dm.labels("train").dtype == torch.float32 and dm.labels("train").shape[1:] == (1,)
    assert dm.class_names == () and dm.report["classes"] == {}


def test_integer_classes_are_ordered_by_value(tmp_path):
    path = task_table(tmp_path, [str(i % 12) for i in range(240)])
    assert setup_csv(path, target="y").class_names == tuple(str(i) for i in range(12))


def test_a_class_too_rare_to_stratify_still_splits(tmp_path):
    dm = setup_csv(task_table(tmp_path, ["a", "b"] * 20 + ["c"]), target="y")
    assert dm.report["stratified"] is False
    assert ("c" in dm.class_names) != (dm.report["rows"]["unseen_class"] == 1)


TEN_ROWS = ("x,label\n" + "".join(f"{i}.5,{'ab'[i % 2]}\n" for i in range(10))).encode()
INFINITE_ROWS = (
    "x,z,label\n" + "".join(f"{('inf', '-inf', '')[i % 3]},{i},{'ab'[i % 2]}\n" for i in range(10))
).encode()
ONE_CLASS_ROWS = ("x,label\n" + "".join(f"{i}.5,a\n" for i in range(10))).encode()
CONSTANT_ROWS = ("x,label\n" + "".join(f"{i}.5,2.5\n" for i in range(10))).encode()
INFINITE_TARGET_ROWS = (
    "x,label\n" + "".join(f"{i}.5,{i}.25\n" for i in range(9)) + "9,inf\n"
).encode()
NEGATIVE_ROWS = ("x,label\n" + "".join(f"-{i}.5,{'ab'[i % 2]}\n" for i in range(10))).encode()


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"a,b,label\n1,2,x\n3,4,y\n5,6,7,z\n", {}, "line 4 has 4 fields but the header has 3"),
        (b"", {}, "is empty"),
        (b"a,label\n", {}, "has a header but no rows"),
        (bytes(random.Random(0).randrange(128, 256) for _ in range(512)), {}, "re-save it as"),
        ("name,label\nJosé,x\n".encode("latin-1"), {}, "not UTF-8 text"),
        (bytes(range(256)), {}, "is a binary file"),
        (b"Species,x\na,1\nb,2\n", {"target": "specie"}, "did you mean 'Species'"),
        (b"id,label\n1,a\n2,b\n3,a\n", {}, "no feature column"),
        (b"x,label\n1.5,a\n2.5,b\n", {}, "2 usable rows, too few to split"),
        (TEN_ROWS, {"task": "regression"}, "cannot be regressed"),
        (
            INFINITE_ROWS,
            {},
            r"column 'x' .* no finite number \(7 infinite, 3 missing cells\); remove",
        ),
        (ONE_CLASS_ROWS, {}, "holds one class, 'a', in all 10 usable rows; a classifier needs two"),
        (CONSTANT_ROWS, {}, "holds one value, 2.5, in all 10 usable rows; there is nothing to"),
        (INFINITE_TARGET_ROWS, {}, r"holds 'inf' \(1 of 10 rows\), which cannot be regressed"),
    ],
)
def test_unreadable_tables_raise_one_line_naming_file_and_fix(tmp_path, content, options, message):
    path = tmp_path / "faulty.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        setup_csv(path, **{"target": "label", **options})
    assert "\n" not in str(error.value) and "faulty.csv" in str(error.value)


def test_a_class_missing_from_the_training_split_is_refused(tmp_path):
    path = task_table(tmp_path, ["a"] * 7 + ["b"] + ["a"] * 32)
    with pytest.raises(ValueError, match=r"training split holds only class 'a'.*\('b': 1\)"):
        setup_csv(path, target="y", split_seed=3)  # this seed puts the one 'b' in val or test


def test_log1p_refuses_negative_training_numbers(tmp_path):
    path = tmp_path / "negative.csv"
    path.write_bytes(NEGATIVE_ROWS)
    with pytest.raises(ValueError, match=r"column 'x' has negative ones; choose .*yeo-johnson"):
        setup_csv(path, normalization="log1p")


def test_missing_files_and_columns_are_named(tmp_path, messy):
    with pytest.raises(FileNotFoundError, match=r"data.path .*nowhere.csv' does not exist"):
        setup_csv(tmp_path / "nowhere.csv")
    dm = setup_csv(messy)
    partial = write_csv(tmp_path / "partial.csv", [["21"]], header=["age"])
    with pytest.raises(ValueError, match=r"predict.input .*partial.csv' lacks .*weight, color"):
        dm.read_inputs(partial)
    with pytest.raises(ValueError, match=r"predict.input .* is a folder, but it takes one file"):
        dm.read_inputs(tmp_path)
    with pytest.raises(ValueError, match=r"data.path .* is a folder, .*pass the path of a CSV"):
        setup_csv(tmp_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size=0 is not allowed; it must be an integer >= 1"),
        ({"num_workers": -1}, "num_workers=-1"),
        ({"task": "clustering"}, "task='clustering' .* one of"),
        ({"numeric_missing": "zero"}, "numeric_missing='zero'"),
        ({"categorical_missing": "mode"}, "categorical_missing='mode'"),
        ({"outliers": "remove"}, "outliers='remove'"),
        ({"outlier_method": "mad"}, "outlier_method='mad'"),
        ({"outlier_threshold": 0}, "outlier_threshold=0 .* a number > 0"),
        ({"normalization": "l2"}, "normalization='l2' .*yeo-johnson"),
        ({"missing_tokens": "NA"}, "missing_tokens='NA' .* a list of strings"),
        ({"drop_duplicates": "yes"}, "drop_duplicates='yes'"),
        ({"target": ""}, "target='' .* a column name"),
        ({"val_fraction": 0.0}, "val_fraction=0.0 and test_fraction=0.2"),
    ],
)
def test_bad_arguments_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        CSVDataModule(**{"path": "x.csv", "target": "label", **options})


def test_palmer_penguins_raw_table(tmp_path):
    import palmerpenguins

    shipped = resources.files(palmerpenguins) / "data" / "penguins-raw.csv"
    path = tmp_path / "penguins-raw.csv"
    with resources.as_file(shipped) as source:
        shutil.copy(source, path)
    dm = setup_csv(path, target="Species", categorical_missing="category")
    report = dm.report
    assert report["rows"]["read"] == 344 and report["task"] == "classification"
    assert report["classes"] == {
        "adelie penguin (pygoscelis adeliae)": 152,
        "chinstrap penguin (pygoscelis antarctica)": 68,
        "gentoo penguin (pygoscelis papua)": 124,
    }
    columns = report["columns"]
    assert {name: columns[name]["missing"] for name in ("Sex", "Body Mass (g)", "Comments")} == {
        "Sex": 11,
        "Body Mass (g)": 2,
        "Comments": 290,
    }
    assert columns["Body Mass (g)"]["kind"] == "numeric"
    assert columns["Sex"]["categories"] == 3  # female, male, <missing>
    features = torch.cat([dm.splits[name].inputs for name in SPLITS])
    assert len(features) == 344 and not features.isnan().any()
