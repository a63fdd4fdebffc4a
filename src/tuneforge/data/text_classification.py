"""Labelled texts (a CSV or JSONL file) as a LightningDataModule for text classification.

The order follows the CSV module's: read every field as text; drop rows without a text or a
label (counted); split, stratified by class and seeded; then fit the tokenizer and the class
names on the training split alone, so validation never scores text the vocabulary was made
from. Every row becomes `max_length` ids padded at the end with `pad_id`: one fixed shape keeps
the data a plain in-memory tensor (default collation, no collate function to pickle into
workers) and lets a transformer size its position table from `spec["max_length"]`.
"""

import codecs
import copy
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
from tuneforge.data._files import read_table, require_column
from tuneforge.data.tensors import TensorClassificationDataset, check_fractions
from tuneforge.data.text import check_text_options
from tuneforge.data.tokenizers import (
    TOKENIZERS,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    tokenizer_from_json,
)

PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>", "<|pad|>")  # what pretrained vocabularies call padding
STATE_KEYS = {"tokenizer", "class_names", "max_length", "pad_id", "vocab_size"}


def _is_codec(value: Any) -> bool:
    try:
        return isinstance(value, str) and codecs.lookup(value) is not None
    except LookupError:
        return False


def _name(value: Any) -> bool:
    return isinstance(value, str | Path) and str(value) != ""


RULES: ArgumentRules = {
    "path": (_name, "the path of a CSV or JSONL file"),
    "text_column": (_name, "a column name"),
    "label_column": (_name, "a column name"),
    "tokenizer": (TOKENIZERS.__contains__, "one of " + ", ".join(TOKENIZERS)),
    "tokenizer_file": (lambda v: v is None or _name(v), "the path of a tokenizer.json, or null"),
    "max_length": (lambda v: v is None or (is_int(v) and v >= 1), "an integer >= 1, or null"),
    "seed": (is_int, "an integer"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "num_workers": WORKERS_RULE,
    "encoding": (_is_codec, "a Python codec name such as utf-8, latin-1 or cp1252"),
}


class TextClassificationDataModule(SplitsDataModule):
    """Seeded, stratified train/val/test splits of labelled texts, as padded token ids.

    Batches are `(ids, labels)`: ids int64 of shape (B, max_length), padded at the end with
    `pad_id` (a row may be all padding: an empty text in `read_inputs`); labels int64 of shape
    (B,), indices into `class_names` (sorted by name, or by value for integer labels).

    Args:
        path: the CSV (with a header row) or JSONL file (one object per line, by its suffix
            .jsonl or .ndjson).
        text_column: the column (JSONL: the key) holding the text.
        label_column: the column holding the label, a name or an integer.
        tokenizer: "char" (one id per training character, plus <unk> and <pad>) or "bpe" (a
            byte-level BPE trained on the training texts, plus [PAD]).
        vocab_size: size of the trained BPE vocabulary before [PAD] (bpe only; at least 260).
        tokenizer_file: a `tokenizer.json` (the `tokenizers` library's, e.g. a BERT WordPiece,
            or one that tuneforge saved) used instead of training one. Its JSON decides the
            kind, lowercasing and special tokens; its pad id comes from its padding config or a
            [PAD]/<pad> token ([PAD] is added when it has neither).
        max_length: ids per row: longer rows are truncated (a pretrained tokenizer keeps its
            [CLS]/[SEP]), shorter ones padded. null: the longest training row.
        val_fraction: share of the usable rows held out for validation.
        test_fraction: share of the usable rows held out for the test.
        seed: seed of the split, apart from the training seed, so that runs with different
            training seeds score the same rows.
        batch_size: rows per batch, for every split.
        num_workers: data loader worker processes. 0 (load in the main process) is right here:
            the ids are one in-memory tensor, a batch is a slice of it, and workers would only
            add start-up time and copying between processes.
        encoding: the file's text encoding, e.g. latin-1 for old Windows exports.
        train_transforms: must be empty; accepted because the builder passes augmentation to
            every DataModule.
    """

    def __init__(
        self,
        path: str,
        text_column: str,
        label_column: str,
        tokenizer: str = "char",
        vocab_size: int = 2000,
        tokenizer_file: str | None = None,
        max_length: int | None = 128,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: Workers = 0,
        encoding: str = "utf-8",
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        super().__init__()
        check_arguments(RULES, locals())
        check_fractions(val_fraction, test_fraction)
        check_text_options(tokenizer, vocab_size, train_transforms)
        self.path, self.text_column, self.label_column = path, text_column, label_column
        self.kind, self.vocab_size, self.tokenizer_file = tokenizer, vocab_size, tokenizer_file
        self.max_length, self.fractions, self.seed = max_length, (val_fraction, test_fraction), seed
        self.batch_size, self.num_workers, self.encoding = batch_size, num_workers, encoding
        self._state: dict[str, Any] = {}  # what was fitted, as plain data
        self._tokenizer: Tokenizer | None = None
        self._report: dict[str, Any] = {}

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer, fitted or loaded by `setup()` or `load_state_dict()`."""
        self._fitted()
        return self._tokenizer

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data."""
        state = self._fitted()
        return {
            "vocab_size": state["vocab_size"],
            "num_classes": len(state["class_names"]),
            "max_length": state["max_length"],
            "pad_id": state["pad_id"],
            "task": "classification",
        }

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the classes in the order of their indices."""
        return tuple(self._fitted()["class_names"])

    @property
    def report(self) -> dict:
        """Rows read, dropped (and why) and per split; classes and their counts; how many rows
        and tokens `max_length` cut. Plain data, ready for json.dump ({} before setup)."""
        return self._report

    def report_table(self) -> Table:
        """Rows per class and split, for a terminal."""
        report = self._report
        table = Table(title=f"{self.path}: {report['rows']['read']} rows read")
        for heading in ("class", "train", "val", "test"):
            table.add_column(heading, justify="left" if heading == "class" else "right")
        for name, counts in report["classes"].items():
            table.add_row(name, *(str(counts[split]) for split in ("train", "val", "test")))
        return table

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        path = Path(self.path)
        table = read_table(path, "data.path", self.encoding)
        for key in ("text_column", "label_column"):
            require_column(table, f"data.{key}", getattr(self, key), path)
        texts, labels = table[self.text_column], table[self.label_column]
        rows = {"read": len(table), "missing_text": int(texts.isna().sum())}
        rows["missing_label"] = int((labels.isna() & texts.notna()).sum())
        table = table[texts.notna() & labels.notna()]
        names, key = self._label_names(table), f"data.label_column='{self.label_column}'"
        if not self._state:
            cleaning.require_two_targets(names, key, path, "classification")
        parts, stratified = cleaning.split_rows(
            table, pd.factorize(names)[0], *self.fractions, self.seed, path
        )
        if not self._state:
            cleaning.require_training_classes(names, names[parts["train"].index], key, path)
            self._fit(parts["train"])
        rows["unseen_class"], lengths = 0, []
        for split, part in parts.items():
            # A seeded order, not the file's: a partial evaluation (limit_val_batches) of a file
            # sorted by label would otherwise score one class.
            part = part.sample(frac=1.0, random_state=self.seed)
            codes = pd.Categorical(self._label_names(part), categories=self.class_names).codes
            known = codes >= 0  # all of them, unless a class was too rare to stratify
            rows["unseen_class"] += int((~known).sum())
            ids, full = self._encode(part[self.text_column][known].tolist())
            labels = torch.from_numpy(codes[known].astype(np.int64))
            self.splits[split] = TensorClassificationDataset(ids, labels)
            lengths.append(full)
        self._report = self._make_report(rows, np.concatenate(lengths), stratified)

    def _label_names(self, table: pd.DataFrame) -> pd.Series:
        """Labels as class names: stripped text, integers without a trailing '.0'."""
        return cleaning.target_values(table[self.label_column].str.strip(), "classification")

    def _fit(self, train: pd.DataFrame) -> None:
        """The tokenizer, pad id, class names and max_length, from the training rows alone."""
        texts = train[self.text_column].tolist()
        if self.tokenizer_file is not None:
            tokenizer = _read_tokenizer_file(Path(self.tokenizer_file))
        elif self.kind == "char":
            tokenizer = CharTokenizer.train("".join(texts))
        else:
            tokenizer = BPETokenizer.train("\n".join(texts), self.vocab_size)
        self._tokenizer = tokenizer
        pad_id = _pad_id(tokenizer)  # may add [PAD] to a `tokenizers` vocabulary
        vocab_size = pad_id + 1 if isinstance(tokenizer, CharTokenizer) else tokenizer.vocab_size
        names = self._label_names(train)
        self._state = {
            "tokenizer": tokenizer.to_json(),
            "class_names": cleaning.sorted_classes(names),
            "max_length": self.max_length or max(1, int(self._lengths(texts).max())),
            "pad_id": pad_id,
            "vocab_size": vocab_size,
        }

    def _lengths(self, texts: list[str]) -> np.ndarray:
        """Each text's id count before truncation (special tokens included)."""
        if isinstance(self._tokenizer, CharTokenizer):
            return np.array([len(text) for text in texts], dtype=np.int64)
        encodings = _plain(self._tokenizer).encode_batch(texts)
        return np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)

    def _encode(self, texts: list[str]) -> tuple[torch.Tensor, np.ndarray]:
        """(N, max_length) int64 ids padded at the end, and each text's untruncated length."""
        length, pad_id = self._fitted()["max_length"], self._fitted()["pad_id"]
        if isinstance(self._tokenizer, CharTokenizer):  # one id per character: cut the text first
            ids = np.full((len(texts), length), pad_id, dtype=np.int64)
            for row, text in enumerate(texts):
                encoded = self._tokenizer.encode(text[:length])
                ids[row, : len(encoded)] = encoded
            return torch.from_numpy(ids), self._lengths(texts)
        # The library truncates (keeping a [CLS]/[SEP] its post-processor adds) and pads in Rust.
        fast = _plain(self._tokenizer)
        fast.enable_truncation(max_length=length)
        pad_token = fast.id_to_token(pad_id)
        fast.enable_padding(direction="right", pad_id=pad_id, pad_token=pad_token, length=length)
        encodings = fast.encode_batch(texts)
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64).reshape(-1, length)
        # Untruncated length: the ids kept, and the text (not special) ids of the pieces cut off.
        cut = [sum(len(c) - sum(c.special_tokens_mask) for c in e.overflowing) for e in encodings]
        kept = [sum(encoding.attention_mask) for encoding in encodings]
        return torch.from_numpy(ids), np.array(kept, dtype=np.int64) + np.array(cut, dtype=np.int64)

    def _make_report(self, rows: dict[str, int], lengths: np.ndarray, stratified: bool) -> dict:
        """The report from the counts that setup() gathered, as plain data."""
        length = self._fitted()["max_length"]
        splits = ("train", "val", "test")
        counts = np.stack(
            [self.splits[s].labels.bincount(minlength=len(self.class_names)) for s in splits]
        )
        classes = {
            name: dict(zip(splits, map(int, counts[:, i]), strict=True))
            for i, name in enumerate(self.class_names)
        }
        return {
            "file": str(self.path),
            "text_column": self.text_column,
            "label_column": self.label_column,
            "tokenizer": self.tokenizer_file or self.kind,
            "vocab_size": self._fitted()["vocab_size"],
            "max_length": length,
            "stratified": stratified,
            "rows": rows | {s: len(self.splits[s]) for s in splits},
            "classes": classes,
            "truncated": {
                "rows": int((lengths > length).sum()),
                "tokens": int(np.maximum(lengths - length, 0).sum()),
            },
            "tokens_per_row": {  # to choose max_length by
                "median": float(np.median(lengths)),
                "p95": float(np.percentile(lengths, 95)),
                "max": int(lengths.max()),
            },
        }

    def read_inputs(self, path: str | Path) -> DataLoader:
        """A loader of 1-tuples `(ids,)` over the rows of a CSV or JSONL file, encoded like
        training. The label column may be there and is ignored. No row is dropped, so each gets
        a prediction: a missing text encodes as an empty one.

        Raises:
            FileNotFoundError: when the file does not exist.
            ValueError: when it cannot be read or lacks the text column.
        """
        path = Path(path)
        table = read_table(path, "predict.input", self.encoding)
        require_column(table, "data.text_column", self.text_column, path)
        ids, _ = self._encode(table[self.text_column].fillna("").tolist())
        return self.loader(TensorDataset(ids))

    def state_dict(self) -> dict[str, Any]:
        """The tokenizer (its JSON string), class names, max_length, pad id and vocab size:
        plain data that `torch.load(weights_only=True)` reads ({} before setup)."""
        return copy.deepcopy(self._state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reuse what an earlier run fitted: setup() then encodes exactly as it did."""
        if not isinstance(state, dict) or not state.keys() >= STATE_KEYS:
            keys = ", ".join(sorted(STATE_KEYS))
            raise ValueError(f"not a TextClassificationDataModule state: a state has keys {keys}")
        self._state = copy.deepcopy(state)
        self._tokenizer = tokenizer_from_json(state["tokenizer"])
        if self.splits:  # set up already, with a tokenizer of its own: encode again
            self.splits = {}
            self.setup()

    def _fitted(self) -> dict[str, Any]:
        if not self._state:
            raise RuntimeError("TextClassificationDataModule: call setup() or load_state_dict()")
        return self._state


def _plain(tokenizer: BPETokenizer) -> Any:
    """A copy of a `tokenizers` tokenizer without truncation or padding (a file may set both)."""
    from tokenizers import Tokenizer as FastTokenizer

    fast = FastTokenizer.from_str(tokenizer.to_json())
    fast.no_truncation()
    fast.no_padding()
    return fast


def _pad_id(tokenizer: Tokenizer) -> int:
    """The id that pads rows: the char tokenizer's next free id; for a `tokenizers` one, its
    padding config's id, else its [PAD]-like token, else a [PAD] added to its vocabulary."""
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.vocab_size  # the ids below are the characters and <unk>
    fast = tokenizer.tokenizer
    if fast.padding is not None:
        return int(fast.padding["pad_id"])
    for token in PAD_TOKENS:
        if fast.token_to_id(token) is not None:
            return fast.token_to_id(token)
    fast.add_special_tokens([PAD_TOKENS[0]])
    return fast.token_to_id(PAD_TOKENS[0])


def _read_tokenizer_file(path: Path) -> Tokenizer:
    if not path.is_file():
        raise FileNotFoundError(
            f"data.tokenizer_file '{path}' does not exist; point it at a tokenizer.json, or set "
            "data.tokenizer_file=null to train one"
        )
    try:
        return tokenizer_from_json(path.read_text(encoding="utf-8"))
    except Exception as ex:  # bad JSON, or JSON the `tokenizers` library refuses
        problem = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise ValueError(
            f"data.tokenizer_file '{path}' is not a tokenizer.json ({problem}); save one with "
            "the tokenizers library's Tokenizer.save"
        ) from None
