"""A plain text file as a LightningDataModule for language-model pretraining.

The last `val_fraction` of the text (by characters) is the validation split, the rest trains. The
tokenizer (characters, or a byte-level BPE) is fitted on the training split alone, so validation
measures text the tokenizer never saw. Each split is tokenized once into a memory-mapped `.bin`
file named by a hash of the text, the tokenizer and the split: a second run reads ids straight
from disk, and a corpus larger than memory still loads.
"""

import hashlib
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneforge.atomic_files import write_atomic
from tuneforge.data._args import (
    POSITIVE_RULE,
    WORKERS_RULE,
    ArgumentRules,
    Workers,
    check_arguments,
    is_positive_int,
)
from tuneforge.data._base import SplitsDataModule
from tuneforge.data.token_datasets import ConsecutiveBlocks, RandomBlocks, spread_sample
from tuneforge.data.tokenizers import (
    MIN_BPE_VOCAB,
    TOKENIZERS,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    tokenizer_from_json,
)

RULES: ArgumentRules = {
    "tokenizer": (lambda value: value in TOKENIZERS, "one of " + ", ".join(TOKENIZERS)),
    "block_size": POSITIVE_RULE,
    "batch_size": POSITIVE_RULE,
    "batches_per_epoch": POSITIVE_RULE,
    "num_workers": WORKERS_RULE,
    "val_sample_batches": (
        lambda value: value is None or is_positive_int(value),
        "a positive integer, or null for the whole validation split",
    ),
    "val_fraction": (
        lambda value: isinstance(value, float | int) and 0 < value < 1,
        "a number between 0 and 1, both excluded",
    ),
}


def check_text_options(tokenizer: str, vocab_size: Any, train_transforms: Sequence) -> None:
    """What every text DataModule refuses: a BPE too small to hold the bytes, image augmentation.

    Raises:
        ValueError: one line naming the argument and the fix.
    """
    if tokenizer == "bpe" and not (is_positive_int(vocab_size) and vocab_size >= MIN_BPE_VOCAB):
        raise ValueError(
            f"vocab_size={vocab_size!r} is not allowed; bpe needs at least {MIN_BPE_VOCAB} "
            "(256 bytes and some merges)"
        )
    if train_transforms:
        raise ValueError(
            f"train_transforms={list(train_transforms)!r} is not allowed; text takes no image "
            "augmentation: use augmentation=none"
        )


class TextLMDataModule(SplitsDataModule):
    """Next-token prediction over one UTF-8 text file. The test split is the validation split: a
    single file has no held-out third part worth its tokens. With `val_sample_batches`, the
    validations during training read a fixed sample of its windows and the test reads them all.

    Args:
        path: the text file; exactly one of `path` and `url`.
        url: a text file to download once into `cache_dir` (needs a network the first time).
        tokenizer: "char" (one id per training character, plus `<unk>`) or "bpe" (byte-level).
        vocab_size: size of the trained BPE vocabulary (bpe only; at least 260).
        block_size: tokens per example; the model's context length.
        batch_size: examples per batch, for every split.
        val_fraction: share of the text, taken from its end, held out for validation.
        num_workers: data loader worker processes (0: load in the main process; auto: one per
            core, at most 8).
        cache_dir: folder of token files and downloads (None: `.tuneforge_cache/` beside the text
            file, or in the working folder for a `url`).
        tokenizer_file: a saved `tokenizer.json` (ours or the `tokenizers` library's) used instead
            of training one; it decides the tokenizer's kind.
        batches_per_epoch: training batches that make an epoch (windows are drawn at random).
        val_sample_batches: validate during training on this many batches of windows spread
            evenly over the validation split, the same at every validation (None: all of them).
            The test after training always scores the whole split.
        train_transforms: must be empty; accepted because the builder passes augmentation to
            every DataModule.
    """

    def __init__(
        self,
        path: str | None = None,
        url: str | None = None,
        tokenizer: str = "char",
        vocab_size: int = 512,
        block_size: int = 64,
        batch_size: int = 12,
        val_fraction: float = 0.1,
        num_workers: Workers = 0,
        cache_dir: str | None = None,
        tokenizer_file: str | None = None,
        batches_per_epoch: int = 1000,
        val_sample_batches: int | None = None,
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        super().__init__()
        check_arguments(RULES, locals())
        if (path is None) == (url is None):
            raise ValueError(f"path={path!r}, url={url!r}: give exactly one of data.path, data.url")
        check_text_options(tokenizer, vocab_size, train_transforms)
        self.path, self.url, self.kind, self.vocab_size = path, url, tokenizer, vocab_size
        self.block_size, self.batch_size, self.num_workers = block_size, batch_size, num_workers
        self.val_fraction, self.batches_per_epoch = val_fraction, batches_per_epoch
        self.val_sample_batches = val_sample_batches
        self.cache_dir, self.tokenizer_file = cache_dir, tokenizer_file
        self._tokenizer: Tokenizer | None = None
        self.chars_per_token = 1.0  # of the validation text, measured by setup()

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer, fitted or loaded by `setup()` or `load_state_dict()`."""
        if self._tokenizer is None:
            raise RuntimeError("TextLMDataModule: call setup() or load_state_dict() first")
        return self._tokenizer

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data."""
        return {
            "vocab_size": self.tokenizer.vocab_size,
            "block_size": self.block_size,
            "chars_per_token": self.chars_per_token,
            "task": "language_modeling",
        }

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        text_path = self._text_path()
        raw, text = _read_text(text_path)
        cut = len(text) - round(len(text) * self.val_fraction)
        parts = {"train": text[:cut], "val": text[cut:]}
        if self._tokenizer is None:
            self._tokenizer = self._make_tokenizer(parts["train"])
        files = {name: self._token_file(text_path, raw, name, part) for name, part in parts.items()}
        dtype = _id_dtype(self.tokenizer.vocab_size)
        val_tokens = files["val"].stat().st_size // np.dtype(dtype).itemsize
        self.chars_per_token = len(parts["val"]) / val_tokens
        length = self.batches_per_epoch * self.batch_size
        self.splits["train"] = RandomBlocks(files["train"], dtype, self.block_size, length)
        val = ConsecutiveBlocks(files["val"], dtype, self.block_size)
        self.splits["test"] = val
        if self.val_sample_batches is not None:
            val = spread_sample(val, self.val_sample_batches * self.batch_size)
        self.splits["val"] = val

    def _text_path(self) -> Path:
        """The local text file: `path`, or `url` downloaded into the cache once."""
        if self.path is not None:
            return Path(self.path)
        name = self.url.rstrip("/").rsplit("/", 1)[-1] or "text.txt"
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        target = self._cache() / f"{digest}-{name}"
        if not target.is_file():
            with urllib.request.urlopen(self.url, timeout=60) as response:
                write_atomic(target, lambda handle: handle.write(response.read()), binary=True)
        return target

    def _cache(self) -> Path:
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        return (
            Path(self.path).parent / ".tuneforge_cache" if self.path else Path(".tuneforge_cache")
        )

    def _make_tokenizer(self, train_text: str) -> Tokenizer:
        if self.tokenizer_file is not None:
            return tokenizer_from_json(Path(self.tokenizer_file).read_text(encoding="utf-8"))
        if self.kind == "char":
            return CharTokenizer.train(train_text)
        return BPETokenizer.train(train_text, self.vocab_size)

    def _token_file(self, text_path: Path, raw: bytes, split: str, text: str) -> Path:
        """The split's ids on disk, tokenized only when this text and tokenizer have no file yet."""
        key = hashlib.sha256(raw)
        key.update(self.tokenizer.to_json().encode())
        key.update(split.encode())
        target = self._cache() / f"{split}-{key.hexdigest()[:16]}.bin"
        if not target.is_file():
            dtype = _id_dtype(self.tokenizer.vocab_size)
            ids = np.asarray(self.tokenizer.encode(text), dtype=dtype)
            if len(ids) < self.block_size + 1:
                raise ValueError(
                    f"data.path '{text_path}': its {split} split holds {len(ids)} tokens, fewer "
                    f"than block_size + 1 = {self.block_size + 1}; use a longer text or a smaller "
                    "data.block_size"
                )
            write_atomic(target, lambda handle: handle.write(ids.tobytes()), binary=True)
        return target

    def state_dict(self) -> dict[str, Any]:
        """The tokenizer as its JSON string ({} before setup), so a checkpoint carries it."""
        return {} if self._tokenizer is None else {"tokenizer": self._tokenizer.to_json()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reuse a saved tokenizer: setup() then encodes with it instead of training one."""
        if not isinstance(state, dict) or not isinstance(state.get("tokenizer"), str):
            raise ValueError("not a TextLMDataModule state: a state holds a 'tokenizer' string")
        self._tokenizer = tokenizer_from_json(state["tokenizer"])
        if self.splits:  # set up already, with a tokenizer of its own: tokenize again
            self.splits = {}
            self.setup()


def _id_dtype(vocab_size: int) -> type:
    """The smallest unsigned integer that holds every id: half the disk of int32 for most vocabs."""
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def _read_text(path: Path) -> tuple[bytes, str]:
    """The file's bytes (hashed to name the token files) and its text."""
    if not path.is_file():
        raise FileNotFoundError(f"data.path '{path}' does not exist; point it at a UTF-8 text file")
    raw = path.read_bytes()
    if not raw:
        raise ValueError(f"data.path '{path}' is empty; point it at a file with text in it")
    try:
        return raw, raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"data.path '{path}' is not UTF-8 (byte {error.start}: {error.reason}); convert it, "
            "e.g. iconv -f LATIN1 -t UTF-8"
        ) from None
