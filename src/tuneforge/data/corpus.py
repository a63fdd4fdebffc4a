"""A sharded text corpus as a LightningDataModule for pretraining a language model at scale.

The corpus (a folder, glob or file of .txt, .jsonl and .parquet documents) is tokenized once, in
parallel, into a cache of token shards (see corpus_shards), which a second run reads at once.
Training reads fixed windows of block_size + 1 tokens from the shards on disk, across
document ends (each document ends with the EOS id), in a seeded order that every run and every
DDP rank computes alike; each rank takes its own share, and a run killed mid-epoch resumes at
its next batch.

Validation holds out windows, not documents: a seeded `val_fraction` of all windows, the same for
every run of the corpus at this block size (whatever the run's seed), so runs compare. Their
neighbours train, so a held-out window's document is partly seen; a corpus of many documents
makes that small, and every validation token is one the model never trained on.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader

from tuneforge.data._args import (
    POSITIVE_RULE,
    WORKERS_RULE,
    ArgumentRules,
    Workers,
    check_arguments,
    is_int,
)
from tuneforge.data._base import SplitsDataModule
from tuneforge.data.corpus_files import find_inputs
from tuneforge.data.corpus_shards import (
    TokenizedCorpus,
    cache_name,
    cache_roots,
    corpus_root,
    find_cached,
    fingerprint,
    load,
    tokenize,
)
from tuneforge.data.corpus_tokenizer import eos_id, read_tokenizer_file, trained_tokenizer
from tuneforge.data.corpus_windows import (
    Permutation,
    ShardedWindowSampler,
    TokenShards,
    Windows,
    WindowSampler,
)
from tuneforge.data.text import check_text_options
from tuneforge.data.tokenizers import BPETokenizer, tokenizer_from_json
from tuneforge.errors import DataError

log = logging.getLogger(__name__)

SPLIT_SEED = 0  # of the held-out windows: the same for every run, whatever its seed

RULES: ArgumentRules = {
    "block_size": POSITIVE_RULE,
    "batch_size": POSITIVE_RULE,
    "num_workers": WORKERS_RULE,
    "num_proc": (lambda value: is_int(value) and value >= 0, "an integer >= 0"),
    "val_fraction": (
        lambda value: isinstance(value, float | int) and 0 < value < 1,
        "a number between 0 and 1, both excluded",
    ),
    "tokenizer_sample_mb": (
        lambda value: isinstance(value, float | int) and value > 0,
        "a positive number of megabytes",
    ),
}


class TextCorpusDataModule(SplitsDataModule):
    """Next-token prediction over a corpus of many documents, tokenized once into shards. The
    test split is the validation split.

    Args:
        path: a folder (searched recursively), a glob, or one file, of .txt (one document per
            file), .jsonl (one per line) and .parquet (one per row) files.
        text_field: the .jsonl field or .parquet column holding the text.
        tokenizer_file: a `tokenizers` library tokenizer.json (a pretrained model's); None:
            train a byte-level BPE of `vocab_size` tokens on a sample of the corpus.
        vocab_size: the trained BPE's size, "<|endoftext|>" included (at least 260).
        tokenizer_sample_mb: megabytes of text the BPE is trained on, drawn across the corpus.
        eos_token: the token ending each document; None: the first of "<|endoftext|>", "</s>",
            "<|end_of_text|>", "<eos>" the tokenizer has.
        block_size: tokens per example; the model's context length.
        batch_size: examples per batch, for every split.
        val_fraction: share of the windows held out for validation.
        num_proc: processes that tokenize the corpus (0 or 1: this one).
        num_workers: data loader worker processes (0: load in the main process; auto: one per
            core, at most 8).
        cache_dir: where new token shards go; None: `.tuneforge-cache/` in the corpus folder if
            writable, else the user's cache (both are looked in for existing shards either way).
        train_transforms: must be empty; accepted because the builder passes augmentation to
            every DataModule.
    """

    def __init__(
        self,
        path: str,
        text_field: str = "text",
        tokenizer_file: str | None = None,
        vocab_size: int = 8192,
        tokenizer_sample_mb: float = 16,
        eos_token: str | None = None,
        block_size: int = 256,
        batch_size: int = 16,
        val_fraction: float = 0.005,
        num_proc: int = 2,
        num_workers: Workers = 0,
        cache_dir: str | None = None,
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        super().__init__()
        check_arguments(RULES, locals())
        check_text_options(
            "bpe" if tokenizer_file is None else "file", vocab_size, train_transforms
        )
        self.path, self.text_field, self.eos_token = path, text_field, eos_token
        self.tokenizer_file, self.vocab_size = tokenizer_file, vocab_size
        self.tokenizer_sample_mb, self.num_proc, self.cache_dir = (
            tokenizer_sample_mb,
            num_proc,
            cache_dir,
        )
        self.block_size, self.batch_size, self.num_workers = block_size, batch_size, num_workers
        self.val_fraction = val_fraction
        self._tokenizer: BPETokenizer | None = None
        self.corpus: TokenizedCorpus | None = None
        self.chars_per_token = 1.0  # of the corpus, measured by its tokenization (setup)

    @property
    def tokenizer(self) -> BPETokenizer:
        """The tokenizer, read or trained by `setup()`, or restored by `load_state_dict()`."""
        if self._tokenizer is None:
            raise RuntimeError("TextCorpusDataModule: call setup() or load_state_dict() first")
        return self._tokenizer

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data; `eos_id`, the id ending
        every document, is where an exported model's generation stops."""
        return {
            "vocab_size": self.tokenizer.vocab_size,
            "eos_id": eos_id(self.tokenizer, self.eos_token),
            "block_size": self.block_size,
            "chars_per_token": self.chars_per_token,
            "task": "language_modeling",
        }

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        self.corpus = self._tokenized()
        self.corpus.verify()
        self.chars_per_token = self.corpus.index["characters"] / self.corpus.index["tokens"]
        shards = TokenShards(self.corpus.shards, self.corpus.dtype)
        windows = (len(shards) - 1) // self.block_size
        held_out = round(windows * self.val_fraction)
        if held_out < 1 or held_out == windows:
            raise DataError(
                f"data.path={self.path}: {len(shards)} tokens make {windows} windows of "
                f"block_size={self.block_size}, too few to hold out val_fraction="
                f"{self.val_fraction} of them and train on the rest; add text, or change "
                "data.block_size or data.val_fraction"
            )
        order = Permutation(windows, SPLIT_SEED)
        self.splits["val"] = Windows(shards, self.block_size, order[:held_out])
        self.splits["train"] = Windows(shards, self.block_size, order[held_out:])
        self.splits["test"] = self.splits["val"]

    def _tokenized(self) -> TokenizedCorpus:
        """The corpus's cache folder, tokenizing the corpus when it has none yet."""
        files = find_inputs(self.path)
        root = corpus_root(self.path, files)
        inputs = fingerprint(files, root)
        roots = cache_roots(root, self.cache_dir)
        if self._tokenizer is None:
            self._tokenizer = (
                read_tokenizer_file(self.tokenizer_file)
                if self.tokenizer_file is not None
                else trained_tokenizer(
                    files, inputs, self.text_field, self.vocab_size, self.tokenizer_sample_mb, roots
                )
            )
        tokenizer_json = self._tokenizer.to_json()
        eos = eos_id(self._tokenizer, self.eos_token)
        name = cache_name(inputs, tokenizer_json, eos, self.text_field)
        found = find_cached(roots, name)
        if found is not None:
            log.info("Reading the tokenized corpus %s", found)
            return load(found)
        return tokenize(
            self.path, files, tokenizer_json, eos, self.text_field, roots[0] / name, self.num_proc
        )

    def train_dataloader(self) -> DataLoader:
        """Every window once per epoch, in a seeded order; under DDP each rank takes every
        world_size-th window of that order from its rank on."""
        train, seed = self.splits["train"], torch.initial_seed()
        rank, world_size = self._rank()
        if world_size == 1:
            return self.loader(train, sampler=WindowSampler(train, True, seed))
        return self.loader(train, sampler=ShardedWindowSampler(train, True, seed, rank, world_size))

    def state_dict(self) -> dict[str, Any]:
        """The tokenizer as its JSON string ({} before setup), so a checkpoint carries it."""
        return {} if self._tokenizer is None else {"tokenizer": self._tokenizer.to_json()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Reuse a saved tokenizer: setup() then finds (or makes) the shards of its tokens."""
        if not isinstance(state, dict) or not isinstance(state.get("tokenizer"), str):
            raise ValueError("not a TextCorpusDataModule state: a state holds a 'tokenizer' string")
        if self._tokenizer is not None and self._tokenizer.to_json() == state["tokenizer"]:
            return  # a resumed run: set up with this very tokenizer already
        tokenizer = tokenizer_from_json(state["tokenizer"])
        if not isinstance(tokenizer, BPETokenizer):
            raise ValueError("a TextCorpusDataModule's tokenizer is a tokenizers library one")
        self._tokenizer = tokenizer
        if self.splits:  # set up already, with another tokenizer: find its shards
            self.splits = {}
            self.setup()
