"""A CSV table as a LightningDataModule: messy cells cleaned, features scaled by the training split.

The order is a careful analyst's: read every cell as text; drop rows without a target and
duplicate rows; decide each column's kind from the whole file; split (stratified by class when
every class is common enough); then fit every statistic (outlier bounds, fill values, scales,
category vocabularies, class names) on the training split alone and apply it to all splits, so
that validation and test scores are not flattered by rows the model should not have seen.
"""

import copy
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from rich.table import Table
from torch.utils.data import DataLoader, TensorDataset

from tuneforge.data import _cleaning as cleaning
from tuneforge.data._args import WORKERS_RULE, ArgumentRules, Workers, check_arguments, is_int
from tuneforge.data._base import SplitsDataModule
from tuneforge.data._files import require_column
from tuneforge.data.tensors import TensorClassificationDataset, check_fractions

DEFAULT_MISSING_TOKENS = ("?", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "None", "")
DEFAULT_OUTLIER_THRESHOLD = {"iqr": 1.5, "zscore": 3.0}
ROW_COUNTS = ("read", "missing_target", "duplicates", "missing_numeric", "outliers", "unseen_class")
STATE_KEYS = {"task", "target_scale", "kinds", "class_names", "numeric", "categorical", "report"}


CHOICES = {
    "task": (None, "classification", "regression"),
    "numeric_missing": ("median", "mean", "drop"),
    "categorical_missing": ("most_frequent", "category"),
    "outliers": ("clip", "drop", "keep"),
    "outlier_method": ("iqr", "zscore"),
    "normalization": ("zscore", "minmax", "robust", "log1p", "yeo-johnson", "none"),
}
RULES: ArgumentRules = {
    "path": (lambda v: isinstance(v, str | Path) and str(v) != "", "the path of a CSV file"),
    "target": (lambda v: isinstance(v, str) and v != "", "a column name"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "split_seed": (is_int, "an integer"),
    "num_workers": WORKERS_RULE,
    "missing_tokens": (
        lambda v: not isinstance(v, str) and all(isinstance(t, str) for t in v),
        "a list of strings",
    ),
    "outlier_threshold": (
        lambda v: v is None or (isinstance(v, int | float) and v > 0),
        "a number > 0, or None for 1.5 (iqr) or 3.0 (zscore)",
    ),
    "drop_duplicates": (lambda v: isinstance(v, bool), "true or false"),
    "drop_id_columns": (lambda v: isinstance(v, bool), "true or false"),
} | {name: (allowed.__contains__, f"one of {allowed}") for name, allowed in CHOICES.items()}


class CSVDataModule(SplitsDataModule):
    """Seeded train/val/test splits of a CSV table, for classification or regression.

    Features are float32: the numeric columns in file order, then one one-hot block per
    categorical column. Targets are int64 class indices (classes sorted by name, or by value for
    integer labels) or, for regression, float32 of shape (N, 1) like a one-output model's output.

    Args:
        path: the CSV file, UTF-8, with a header row.
        target: the column to predict.
        task: "classification" or "regression"; None infers it: text targets are labels, and so
            are integers with two values, or at most 20 values seen 10 times each on average.
        batch_size: rows per batch, for every split.
        val_fraction: share of the usable rows held out for validation.
        test_fraction: share of the usable rows held out for the test.
        split_seed: seed of the split, apart from the training seed.
        num_workers: data loader worker processes (0: load in the main process; auto: one per
            core, at most 8).
        missing_tokens: cell texts that mean "missing", matched after stripping, ignoring case.
        numeric_missing: fill missing numbers with the training "median" or "mean", or "drop"
            the rows that lack one (new inputs are filled with the median instead).
        categorical_missing: fill missing categories with the training "most_frequent" value, or
            give them a "category" of their own ('<missing>').
        drop_duplicates: drop rows equal to an earlier one once cells are cleaned.
        outliers: "clip" numbers to the training bounds, "drop" training rows beyond them (and
            clip the other splits), or "keep" them.
        outlier_method: bounds from the interquartile range ("iqr") or the mean and standard
            deviation ("zscore").
        outlier_threshold: IQRs or standard deviations beyond which a value is an outlier (None:
            1.5 for iqr, 3.0 for zscore).
        drop_id_columns: drop columns of integers or strings unique per row (ids, not features).
        normalization: scaling of the numeric features: "zscore", "minmax", "robust", "log1p",
            "yeo-johnson" (then standardised) or "none".
        train_transforms: callables applied to each training feature row (augmentation).
    """

    def __init__(
        self,
        path: str | Path,
        target: str,
        task: str | None = None,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        num_workers: Workers = 0,
        missing_tokens: Sequence[str] = DEFAULT_MISSING_TOKENS,
        numeric_missing: str = "median",
        categorical_missing: str = "most_frequent",
        drop_duplicates: bool = True,
        outliers: str = "clip",
        outlier_method: str = "iqr",
        outlier_threshold: float | None = None,
        drop_id_columns: bool = True,
        normalization: str = "zscore",
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        super().__init__()
        check_arguments(RULES, locals())
        check_fractions(val_fraction, test_fraction)
        self.path, self.target, self.task = path, target, task
        self.batch_size, self.num_workers = batch_size, num_workers
        self.fractions = (val_fraction, test_fraction)
        self.split_seed = split_seed
        self.missing_tokens = list(missing_tokens)
        self.numeric_missing, self.categorical_missing = numeric_missing, categorical_missing
        self.drop_duplicates, self.drop_id_columns = drop_duplicates, drop_id_columns
        self.outliers, self.outlier_method = outliers, outlier_method
        self.outlier_threshold = outlier_threshold or DEFAULT_OUTLIER_THRESHOLD[outlier_method]
        self.normalization = normalization
        self.train_transforms = list(train_transforms)
        self._state: dict[str, Any] = {}  # what was fitted, as plain data

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data."""
        width = len(self._numeric.columns) + sum(map(len, self._categorical.vocab))
        fitted = self._fitted()
        if fitted["task"] == "regression":
            mean, std = fitted["target_scale"]
            return {
                "input_shape": (width,),
                "num_outputs": 1,
                "task": "regression",
                "target_mean": mean,  # the task learns standardized targets and reports in units
                "target_std": std,
            }
        classes = len(self.class_names)
        return {"input_shape": (width,), "num_classes": classes, "task": "classification"}

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the classes in the order of their indices (empty for regression)."""
        return tuple(self._fitted()["class_names"])

    @property
    def report(self) -> dict:
        """What cleaning did: rows read and dropped (and why), each column's kind, missing cells
        (in a numeric column, infinities too: they are filled alike) and outliers, the classes
        and their counts. Plain data, ready for json.dump."""
        return self._fitted()["report"]

    def report_table(self) -> Table:
        """The per-column part of `report`, for a terminal."""
        table = Table(title=f"{self.path}: {self.report['rows']['read']} rows read")
        for heading in ("column", "kind", "missing", "action", "clipped", "dropped"):
            table.add_column(
                heading, justify="left" if heading in ("column", "kind", "action") else "right"
            )
        for name, column in self.report["columns"].items():
            counts = [column.get(f"outliers_{done}", "") for done in ("clipped", "dropped")]
            cells = [name, column["kind"], column["missing"], column.get("action", ""), *counts]
            table.add_row(*map(str, cells))
        return table

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        path = Path(self.path)
        table, rows, kinds = self._read_rows(path)
        if self._state:
            self._require_features(table, "data.path", path)
        numeric = [name for name, kind in kinds.items() if kind == "numeric"]
        absent = cleaning.missing_numbers(table, numeric, path)  # an infinity counts as missing
        missing = {name: int(count) for name, count in table.isna().sum().items()}
        infinite = absent.sum(axis=0) - table[numeric].isna().sum().to_numpy()
        missing |= dict(zip(numeric, absent.sum(axis=0).tolist(), strict=True))
        if self.numeric_missing == "drop":
            table, rows["missing_numeric"] = _drop(table, absent.any(axis=1))
        task = self._state.get("task") or self.task or cleaning.infer_task(table[self.target])
        parts, stratified = self._split(table, task, path)
        bounds, counts = self._outliers(parts, numeric, rows)
        counts |= {"missing": missing, "infinite": infinite.tolist()}
        if not self._state:
            self._state = self._fit(parts["train"], kinds, task, bounds)
        rows["unseen_class"] = sum(self._build(name, part) for name, part in parts.items())
        if "report" not in self._state:
            self._state["report"] = self._report(rows, counts, stratified)

    def _read_rows(self, path: Path) -> tuple[pd.DataFrame, dict[str, int], dict[str, str]]:
        """The table without rows that lack a target or repeat one; row counts; column kinds."""
        table = cleaning.read_table(path, "data.path", self.missing_tokens)
        require_column(table, "target", self.target, path)
        rows = dict.fromkeys(ROW_COUNTS, 0) | {"read": len(table)}
        table, rows["missing_target"] = _drop(table, table[self.target].isna())
        if self.drop_duplicates:
            table, rows["duplicates"] = _drop(table, table.duplicated())
        drop_ids = self.drop_id_columns
        kinds = self._state.get("kinds") or cleaning.column_kinds(table, self.target, drop_ids)
        if not {"numeric", "categorical"} & set(kinds.values()):
            found = ", ".join(f"{name}: {kind}" for name, kind in kinds.items()) or "none"
            raise ValueError(
                f"data.path '{path}' has no feature column besides target '{self.target}' "
                f"({found}); add feature columns, or set drop_id_columns=false"
            )
        return table, rows, kinds

    def _split(self, table: pd.DataFrame, task: str, path: Path) -> tuple[dict, bool]:
        """Train, val and test rows (see cleaning.split_rows), once the target fits the task and,
        when fitting, holds two values or more."""
        values = cleaning.target_values(table[self.target], task)
        if values.isna().any():
            text = table[self.target][values.isna()].iloc[0]
            raise ValueError(
                f"target '{self.target}' of '{path}' holds '{text}' ({int(values.isna().sum())} of "
                f"{len(values)} rows), which cannot be regressed; set task=classification or fix "
                "those cells"
            )
        key = f"data.target='{self.target}'"
        if not self._state:
            cleaning.require_two_targets(values, key, path, task)
        strata = pd.factorize(values)[0] if task == "classification" else None
        parts, stratified = cleaning.split_rows(
            table, strata, *self.fractions, self.split_seed, path
        )
        if not self._state and task == "classification":
            cleaning.require_training_classes(values, values[parts["train"].index], key, path)
        return parts, stratified

    def _outliers(self, parts: dict, numeric: list[str], rows: dict[str, int]) -> tuple:
        """Outlier bounds, fitted or loaded; drops training rows beyond them when asked to.

        Returns the bounds and, per numeric column, how many values were clipped and dropped.
        """
        if self._state:
            bounds = self._numeric.low, self._numeric.high
        elif self.outliers == "keep" or not numeric:
            bounds = [None] * len(numeric), [None] * len(numeric)
        else:
            values = cleaning.numbers(parts["train"], numeric)
            bounds = cleaning.outlier_bounds(values, self.outlier_method, self.outlier_threshold)
        beyond = {
            name: cleaning.outside(cleaning.numbers(part, numeric), *bounds)
            for name, part in parts.items()
        }
        dropping = self.outliers == "drop"
        if dropping:
            parts["train"], rows["outliers"] = _drop(parts["train"], beyond["train"].any(axis=1))
        clipped = sum(b.sum(axis=0) for n, b in beyond.items() if n != "train" or not dropping)
        dropped = beyond["train"].sum(axis=0) if dropping else np.zeros(len(numeric), int)
        return bounds, {"clipped": clipped.tolist(), "dropped": dropped.tolist()}

    def _fit(self, train: pd.DataFrame, kinds: dict[str, str], task: str, bounds: tuple) -> dict:
        """Everything learnt from the training rows, as plain data."""
        numeric = [name for name, kind in kinds.items() if kind == "numeric"]
        categorical = [name for name, kind in kinds.items() if kind == "categorical"]
        scaling = (self.numeric_missing, self.normalization)
        names = cleaning.target_values(train[self.target], task)
        regression = task == "regression"
        targets = names.to_numpy(np.float64) if regression else None
        return {
            "task": task,
            "target_scale": [float(targets.mean()), float(targets.std() or 1.0)]
            if regression
            else None,
            "kinds": kinds,
            "class_names": cleaning.sorted_classes(names) if task == "classification" else [],
            "numeric": dataclasses.asdict(cleaning.fit_numeric(train, numeric, bounds, *scaling)),
            "categorical": dataclasses.asdict(
                cleaning.fit_categorical(train, categorical, self.categorical_missing)
            ),
        }

    def _build(self, name: str, part: pd.DataFrame) -> int:
        """Stores a split's tensors; returns how many rows it lost to classes unseen in training."""
        task = self._fitted()["task"]
        names = cleaning.target_values(part[self.target], task)
        if task == "classification":
            codes = pd.Categorical(names, categories=self.class_names).codes.astype(np.int64)
            part, labels = part[codes >= 0], torch.from_numpy(codes[codes >= 0])
        else:
            labels = torch.from_numpy(names.to_numpy(np.float32)).unsqueeze(1)  # (N, 1)
        transforms = self.train_transforms if name == "train" else ()
        self.splits[name] = TensorClassificationDataset(self._features(part), labels, transforms)
        return len(names) - len(labels)

    def _report(self, rows: dict[str, int], counts: dict[str, Any], stratified: bool) -> dict:
        """The cleaning report from the counts that setup() gathered, as plain data."""
        numeric, categorical = self._numeric, self._categorical
        kinds = self._fitted()["kinds"]
        columns = {
            name: {"kind": kind, "missing": counts["missing"][name]} for name, kind in kinds.items()
        }
        for i, name in enumerate(numeric.columns):
            action = f"filled with {self.numeric_missing} {numeric.fill[i]:.6g}"
            columns[name] |= {
                "action": "rows dropped" if self.numeric_missing == "drop" else action,
                "infinite": int(counts["infinite"][i]),  # of the missing cells
                "outliers_clipped": int(counts["clipped"][i]),
                "outliers_dropped": int(counts["dropped"][i]),
            }
        for i, name in enumerate(categorical.columns):
            columns[name] |= {
                "action": f"filled with '{categorical.fill[i]}'",
                "categories": len(categorical.vocab[i]),
            }
        rows |= {name: len(split) for name, split in self.splits.items()}
        classes = {}
        if self.class_names:
            labels = torch.cat([split.labels for split in self.splits.values()])
            per_class = labels.bincount(minlength=len(self.class_names)).tolist()
            classes = dict(zip(self.class_names, per_class, strict=True))
        return {
            "file": str(self.path),
            "target": self.target,
            "task": self._fitted()["task"],
            "stratified": stratified,
            "features": self.spec["input_shape"][0],
            "rows": rows,
            "columns": columns,
            "classes": classes,
        }

    def _fitted(self) -> dict[str, Any]:
        if not self._state:
            raise RuntimeError("CSVDataModule: call setup() or load_state_dict() first")
        return self._state

    @property
    def _numeric(self) -> cleaning.NumericParams:
        return cleaning.NumericParams(**self._fitted()["numeric"])

    @property
    def _categorical(self) -> cleaning.CategoricalParams:
        return cleaning.CategoricalParams(**self._fitted()["categorical"])

    def _features(self, frame: pd.DataFrame) -> torch.Tensor:
        """(N, n_features) float32: scaled numbers, then one-hot categories."""
        parts = [self._numeric.apply(frame), self._categorical.apply(frame)]
        return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))

    def _require_features(self, frame: pd.DataFrame, key: str, path: Path) -> None:
        """Raises ValueError when a table lacks a column that the features were fitted on."""
        absent = [c for c in self._numeric.columns + self._categorical.columns if c not in frame]
        if absent:
            raise ValueError(
                f"{key} '{path}' lacks the feature columns {', '.join(absent)} that the model was "
                "trained on; add them (empty cells are filled)"
            )

    def read_inputs(self, path: str | Path) -> DataLoader:
        """A loader of 1-tuples `(x,)` over the rows of a CSV file, transformed like training.

        The file needs the feature columns and may hold the target, which is ignored. No row is
        dropped, so that each gets a prediction: missing numbers are filled (with the training
        median when numeric_missing='drop') and categories unseen in training encode as zeros.

        Raises:
            FileNotFoundError: when the file does not exist.
            ValueError: when it cannot be read as CSV or lacks a feature column.
        """
        path = Path(path)
        frame = cleaning.read_table(path, "predict.input", self.missing_tokens)
        self._require_features(frame, "predict.input", path)
        return self.loader(TensorDataset(self._features(frame)))

    def state_dict(self) -> dict[str, Any]:
        """Everything fitted on the training split, as plain data ({} before setup)."""
        return copy.deepcopy(self._state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reuse what an earlier run fitted: setup() then transforms without refitting."""
        if not isinstance(state, dict) or not state.keys() >= STATE_KEYS:
            keys = ", ".join(sorted(STATE_KEYS))
            raise ValueError(f"not a CSVDataModule state: a state has the keys {keys}")
        self._state = copy.deepcopy(state)
        if self.splits:  # set up already, with statistics of its own: build the splits again
            self.splits = {}
            self.setup()


def _drop(frame: pd.DataFrame, mask: pd.Series | np.ndarray) -> tuple[pd.DataFrame, int]:
    """The rows where `mask` is False, and how many were dropped."""
    mask = np.asarray(mask, dtype=bool)
    return frame[~mask], int(mask.sum())
