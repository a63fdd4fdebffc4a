"""Reading and cleaning messy CSV tables, and the feature transform fitted on a training split.

Every fitted parameter is plain data (lists of str and float) so that a checkpoint holding it loads
with `torch.load(weights_only=True)`. scikit-learn computes the statistics; applying them is a
clip, a fill, an optional element-wise function and an affine map, written out here.
"""

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import yeojohnson
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    PowerTransformer,
    RobustScaler,
    StandardScaler,
)

from tuneforge.data._files import read_csv, require_file
from tuneforge.data.tensors import stratified_split

MISSING_CATEGORY = "<missing>"
MAX_CLASSES = 20  # an integer target with more distinct values is a quantity, not a label
MIN_ROWS_PER_CLASS = 10  # ...and so is one whose values are seen fewer times each on average
SPLITS = ("train", "val", "test")


def read_table(path: Path, key: str, missing_tokens: Sequence[str]) -> pd.DataFrame:
    """Every cell of a CSV file as a string, stripped and case-folded; missing ones as NaN.

    Column names are stripped but keep their case. A cell counts as missing when it matches one
    of `missing_tokens` after stripping, ignoring case. `key` names the setting that gave the
    path, so that an error tells the user what to change.

    Raises:
        FileNotFoundError: when there is no such file.
        ValueError: when it is a folder, or the file is empty, binary, not UTF-8, or not
            rectangular CSV.
    """
    require_file(path, key, "the path of a CSV file")
    with path.open("rb") as handle:
        if b"\x00" in handle.read(8192):
            raise ValueError(f"{key} '{path}' is a binary file, not CSV text; export it as CSV")
    try:
        frame = read_csv(path, key)
    except UnicodeDecodeError as ex:
        raise ValueError(
            f"{key} '{path}' is not UTF-8 text (byte {ex.object[ex.start]:#04x} cannot be read); "
            "re-save it as CSV with UTF-8 encoding"
        ) from ex
    if frame.empty:
        raise ValueError(f"{key} '{path}' has a header but no rows; add rows of data")
    frame.columns = [str(name).strip() for name in frame.columns]
    tokens = {token.strip().casefold() for token in missing_tokens}
    cells = frame.apply(lambda column: column.str.strip().str.casefold())
    return cells.mask(cells.isin(tokens))


def column_kinds(frame: pd.DataFrame, target: str, drop_ids: bool) -> dict[str, str]:
    """Each feature column's kind: numeric, categorical, id-dropped or empty-dropped.

    Kinds are a property of the file, so they are read from all rows: a column is numeric when
    every present value parses as a number, and an id when it is complete, unique per row and made
    of integers or strings (unique floats are measurements, not ids).
    """
    kinds = {}
    for name in frame.columns.drop(target):
        present = frame[name].dropna()
        numbers = pd.to_numeric(present, errors="coerce")
        numeric = bool(numbers.notna().all())
        unique = len(present) == len(frame) and present.nunique() == len(frame)
        if present.empty:
            kinds[name] = "empty-dropped"
        elif drop_ids and unique and (not numeric or bool((numbers % 1 == 0).all())):
            kinds[name] = "id-dropped"
        else:
            kinds[name] = "numeric" if numeric else "categorical"
    return kinds


def infer_task(target: pd.Series) -> str:
    """classification or regression, from the values of a target column without missing cells.

    Text is a label. Numbers are a label only when they are integers with two distinct values, or
    with at most MAX_CLASSES distinct values each seen MIN_ROWS_PER_CLASS times on average;
    anything else (fractions, many distinct counts) is a quantity to regress.
    """
    numbers = pd.to_numeric(target, errors="coerce")
    if numbers.isna().any():
        return "classification"
    distinct = numbers.nunique()
    few = distinct == 2 or distinct <= min(MAX_CLASSES, len(numbers) / MIN_ROWS_PER_CLASS)
    return "classification" if bool((numbers % 1 == 0).all()) and few else "regression"


def target_values(target: pd.Series, task: str) -> pd.Series:
    """Regression targets as floats (NaN where a cell holds text or an infinity); class names as
    text, integers without a trailing '.0' so that 1 and 1.0 name one class."""
    numbers = pd.to_numeric(target, errors="coerce")
    if task == "regression":
        return numbers.where(np.isfinite(numbers))
    integers = numbers.notna().all() and bool((numbers % 1 == 0).all())
    return numbers.astype(np.int64).astype(str) if integers else target.astype(str)


def require_two_targets(every: pd.Series, key: str, path: Path, task: str) -> None:
    """Raises ValueError when the usable rows' targets are one value: a classifier of one class
    (which torchmetrics refuses) or a regression onto a constant learns nothing. No rows at all
    are left to split_rows to report."""
    if every.nunique() != 1:
        return
    if task == "classification":
        found, fix = f"one class, '{every.iloc[0]}'", "a classifier needs two or more"
    else:
        found, fix = f"one value, {every.iloc[0]:g}", "there is nothing to regress"
    raise ValueError(
        f"{key} of '{path}' holds {found}, in all {len(every)} usable rows; {fix}: choose "
        "another column or add rows with other values"
    )


def require_training_classes(every: pd.Series, train: pd.Series, key: str, path: Path) -> None:
    """Raises ValueError when the training split holds one class of several: the others were too
    rare to stratify, and the plain shuffle put them all in val or test."""
    if train.nunique() > 1:
        return
    rare = every[every != train.iloc[0]].value_counts()
    rows = ", ".join(f"'{name}': {count}" for name, count in rare.items())
    raise ValueError(
        f"{key} of '{path}': the training split holds only class '{train.iloc[0]}', as the "
        f"other classes have too few rows to reach it ({rows}); add rows of them"
    )


def sorted_classes(names: pd.Series) -> list[str]:
    """Distinct class names in index order: by value for numeric labels, else alphabetically."""
    numeric = pd.to_numeric(names, errors="coerce").notna().all()
    return sorted(names.unique().tolist(), key=float if numeric else None)


def split_rows(
    table: pd.DataFrame,
    strata: np.ndarray | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    path: Path,
) -> tuple[dict[str, pd.DataFrame], bool]:
    """Rows of train, val and test, and whether they are stratified.

    The split is stratified by `strata` (class codes) when every class is common enough to reach
    each split, else a plain seeded shuffle: one stratum for all rows.

    Raises:
        ValueError: when there are too few rows to give each split one.
    """
    fractions = (val_fraction, test_fraction, seed)
    if strata is not None:
        with contextlib.suppress(ValueError):  # a class too rare to reach every split
            return _parts(table, stratified_split(strata, *fractions)), True
    try:
        return _parts(table, stratified_split(np.zeros(len(table), int), *fractions)), False
    except ValueError as ex:
        raise ValueError(
            f"data.path '{path}' has {len(table)} usable rows, too few to split with "
            f"val_fraction={val_fraction} and test_fraction={test_fraction}; add rows or lower "
            "the fractions"
        ) from ex


def _parts(table: pd.DataFrame, indices: Sequence[np.ndarray]) -> dict[str, pd.DataFrame]:
    return {name: table.iloc[rows] for name, rows in zip(SPLITS, indices, strict=True)}


def numbers(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """(N, len(columns)) float64; anything that is not a finite number becomes NaN."""
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def missing_numbers(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> np.ndarray:
    """(N, len(columns)) mask of the cells without a finite number: missing ones and infinities
    (inf, -inf, 1e999), which are counted, filled and dropped alike.

    Raises:
        ValueError: naming the first column without a single finite number, which filling would
            turn into a constant.
    """
    absent = np.isnan(numbers(frame, columns))
    empty = [name for name, none in zip(columns, absent.all(axis=0), strict=True) if none]
    if empty and len(frame):
        infinite = int(frame[empty[0]].notna().sum())  # a numeric column's other cells
        raise ValueError(
            f"column '{empty[0]}' of '{path}' holds no finite number ({infinite} infinite, "
            f"{len(frame) - infinite} missing cells); remove the column or fix its cells"
        )
    return absent


def outlier_bounds(
    values: np.ndarray, method: str, threshold: float
) -> tuple[list[float | None], list[float | None]]:
    """Per column, the range outside which a value is an outlier (None: no bound).

    IQR: [q1 - t * iqr, q3 + t * iqr]; z-score: mean +- t * std, which extreme values widen
    themselves (hence IQR by default). A column without spread (say a 0/1 flag that is mostly 0)
    gets no bounds, as every rare value would otherwise be an outlier.
    """
    if method == "iqr":
        q1, q3 = np.nanpercentile(values, [25, 75], axis=0)
        low, high, spread = q1 - threshold * (q3 - q1), q3 + threshold * (q3 - q1), q3 - q1
    else:
        mean, spread = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        low, high = mean - threshold * spread, mean + threshold * spread
    bounded = spread > 0
    return (
        [float(v) if b else None for v, b in zip(low, bounded, strict=True)],
        [float(v) if b else None for v, b in zip(high, bounded, strict=True)],
    )


def outside(values: np.ndarray, low: list[float | None], high: list[float | None]) -> np.ndarray:
    """Boolean mask of the values beyond their column's bounds (missing values are not)."""
    return (values < _bound(low, -1)) | (values > _bound(high, 1))


def _bound(bounds: list[float | None], side: int) -> np.ndarray:
    """Bounds as an array, a missing one as infinity on its `side` (-1 below, 1 above)."""
    return np.array([side * np.inf if b is None else b for b in bounds], dtype=np.float64)


@dataclass
class NumericParams:
    """What turns numeric columns into features: bounds to clip to, fill values, then an optional
    `function` (log1p, or yeo-johnson with one lambda per column) and (x - center) / scale."""

    columns: list[str]
    low: list[float | None]
    high: list[float | None]
    fill: list[float]
    function: str | None
    lambdas: list[float]
    center: list[float]
    scale: list[float]

    def apply(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.columns:
            return np.zeros((len(frame), 0))
        values = np.clip(numbers(frame, self.columns), _bound(self.low, -1), _bound(self.high, 1))
        values = np.where(np.isnan(values), np.array(self.fill), values)
        values = _function(values, self.function, self.lambdas)
        return (values - np.array(self.center)) / np.array(self.scale)


def _function(values: np.ndarray, function: str | None, lambdas: list[float]) -> np.ndarray:
    if function == "log1p":
        return np.log1p(np.maximum(values, 0.0))  # new data below the training minimum of 0
    if function == "yeo-johnson":
        columns = [
            yeojohnson(column, lmbda=lam) for column, lam in zip(values.T, lambdas, strict=True)
        ]
        return np.stack(columns, axis=1)
    return values


def fit_numeric(
    train: pd.DataFrame,
    columns: list[str],
    bounds: tuple[list[float | None], list[float | None]],
    strategy: str,
    normalization: str,
) -> NumericParams:
    """Fill values and scaling from the training rows, after clipping them to `bounds`.

    With strategy 'drop' the rows with missing numbers are gone already; the median is kept to
    fill new inputs, which are never dropped (each needs a prediction).
    """
    function = normalization if normalization in ("log1p", "yeo-johnson") else None
    params = NumericParams(columns, *bounds, [], function, [], [], [])
    if not columns:
        return params
    raw = np.clip(numbers(train, columns), _bound(bounds[0], -1), _bound(bounds[1], 1))
    strategy = "median" if strategy == "drop" else strategy
    imputer = SimpleImputer(strategy=strategy, keep_empty_features=True)
    filled = imputer.fit_transform(raw)
    params.fill = imputer.statistics_.tolist()
    if function == "log1p" and (filled < 0).any():
        column = columns[int(np.argmax((filled < 0).any(axis=0)))]
        raise ValueError(
            f"normalization='log1p' needs numbers >= 0, but column '{column}' has negative ones; "
            "choose normalization='yeo-johnson'"
        )
    if function == "yeo-johnson":
        params.lambdas = PowerTransformer(standardize=False).fit(filled).lambdas_.tolist()
    center, scale = _affine(_function(filled, function, params.lambdas), normalization)
    params.center, params.scale = center.tolist(), scale.tolist()
    return params


def _affine(values: np.ndarray, normalization: str) -> tuple[np.ndarray, np.ndarray]:
    """center and scale of (x - center) / scale, from the scikit-learn scaler that fits them."""
    if normalization == "minmax":
        scaler = MinMaxScaler().fit(values)
        return scaler.data_min_, 1.0 / scaler.scale_
    if normalization == "robust":
        scaler = RobustScaler().fit(values)
        return scaler.center_, scaler.scale_
    if normalization in ("zscore", "yeo-johnson"):
        scaler = StandardScaler().fit(values)
        return scaler.mean_, scaler.scale_
    return np.zeros(values.shape[1]), np.ones(values.shape[1])  # log1p and none


@dataclass
class CategoricalParams:
    """What turns categorical columns into one-hot features: a fill value and a vocabulary each.

    A value outside the vocabulary (seen only after training) encodes as all zeros.
    """

    columns: list[str]
    fill: list[str]
    vocab: list[list[str]]

    def apply(self, frame: pd.DataFrame) -> np.ndarray:
        if not self.columns:
            return np.zeros((len(frame), 0))
        values = frame[self.columns].to_numpy(dtype=object)
        values = np.where(pd.isna(values), np.array(self.fill, dtype=object), values)
        encoder = OneHotEncoder(categories=self.vocab, handle_unknown="ignore", sparse_output=False)
        return encoder.fit_transform(values)  # with given categories, fitting only checks shapes


def fit_categorical(train: pd.DataFrame, columns: list[str], strategy: str) -> CategoricalParams:
    """Fill values and vocabularies from the training rows."""
    if not columns:
        return CategoricalParams([], [], [])
    values = train[columns].to_numpy(dtype=object)
    if strategy == "category":
        fill = [MISSING_CATEGORY] * len(columns)
    else:
        imputer = SimpleImputer(strategy="most_frequent", keep_empty_features=True).fit(values)
        fill = [str(value) for value in imputer.statistics_]
    filled = np.where(pd.isna(values), np.array(fill, dtype=object), values)
    # The fill row puts '<missing>' in the vocabulary even when no training cell was missing.
    vocab = OneHotEncoder().fit(np.vstack([filled, fill])).categories_
    return CategoricalParams(columns, fill, [[str(v) for v in cats] for cats in vocab])
