"""The sharded text corpus: its documents and EOS ids, the cache a second run reuses and a changed
file renews, parallel tokenization, window orders (seeded, one share per DDP rank, O(1) memory),
bad input as one line, and a corpus eight times a memory limit trained under that limit."""

import hashlib
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from tuneforge.data import TextCorpusDataModule
from tuneforge.data.corpus_files import CHUNK_BYTES, cut, find_inputs, read_piece
from tuneforge.data.corpus_windows import Permutation
from tuneforge.errors import DataError
from tuneforge.run.build import build

from ..conftest import MINILM, SHAKESPEARE, compose_config
from ._big_corpus import inflate

EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def plays() -> str:
    return SHAKESPEARE.read_text(encoding="utf-8")


def documents(plays: str) -> list[str]:
    """The test corpus's documents in the order the corpus reads them (files sorted by path)."""
    speeches = [s for s in plays[200_000:230_000].split("\n\n") if s.strip()]
    return [plays[:150_000], *speeches[:60], *speeches[60:90], plays[150_000:151_000]]


def write_corpus(folder: Path, plays: str) -> Path:
    """A folder of each kind of file, one in a subfolder, and files that are not read."""
    docs = documents(plays)
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(docs[0], encoding="utf-8")
    lines = [json.dumps({"text": t, "id": i}) for i, t in enumerate(docs[1:61])]
    (folder / "b.jsonl").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    pq.write_table(pa.table({"text": docs[61:91]}), folder / "c.parquet", row_group_size=7)
    (folder / "sub" / "d.txt").write_text(docs[91], encoding="utf-8")
    (folder / "notes.md").write_text("not read", encoding="utf-8")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "e.txt").write_text("not read either", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, plays) -> Path:
    """The test corpus, for tests that only read it and its cache."""
    return write_corpus(tmp_path_factory.mktemp("shared") / "corpus", plays)


@pytest.fixture
def own_corpus(tmp_path, plays) -> Path:
    """The test corpus, for a test that changes it or its cache."""
    return write_corpus(tmp_path / "corpus", plays)


def make(path: Path, **kwargs) -> TextCorpusDataModule:
    settings = dict(vocab_size=300, tokenizer_sample_mb=0.05, block_size=16, batch_size=4)
    datamodule = TextCorpusDataModule(path=str(path), **(settings | {"num_proc": 1} | kwargs))
    datamodule.setup("fit")
    return datamodule


def stream(datamodule: TextCorpusDataModule) -> np.ndarray:
    """Every token of the corpus, the shards laid end to end."""
    return np.concatenate(
        [np.fromfile(p, datamodule.corpus.dtype) for p, _ in datamodule.corpus.shards]
    )


def test_each_document_ends_with_the_eos_id_and_decodes_back(corpus, plays):
    datamodule = make(corpus)
    eos = datamodule.tokenizer.tokenizer.token_to_id(EOS)
    ids = stream(datamodule)
    assert ids[-1] == eos and ids.dtype == np.uint16
    cuts = np.flatnonzero(ids == eos)
    pieces = np.split(ids, cuts + 1)[:-1]
    decoded = [datamodule.tokenizer.decode(p[:-1].tolist()) for p in pieces]
    assert decoded == documents(plays)  # hidden folders and other suffixes are not read
    index = datamodule.corpus.index
    assert index["documents"] == 92 and index["tokens"] == len(ids)
    assert [entry["path"] for entry in index["inputs"]] == [
        "a.txt",
        "b.jsonl",
        "c.parquet",
        "sub/d.txt",
    ]
    assert (
        index["inputs"][1]["sha256"]
        == hashlib.sha256((corpus / "b.jsonl").read_bytes()).hexdigest()
    )
    assert datamodule.spec == {
        "vocab_size": 300,
        "eos_id": eos,
        "block_size": 16,
        "chars_per_token": pytest.approx(index["characters"] / len(ids)),
        "task": "language_modeling",
    }
    assert datamodule.corpus.folder.parent == corpus / ".tuneforge-cache"


def test_a_second_setup_reads_the_cache_and_a_changed_file_is_tokenized_again(own_corpus):
    first = make(own_corpus)
    shards = [p for p, _ in first.corpus.shards]
    written = {p: p.stat().st_mtime_ns for p in shards}
    again = make(own_corpus)
    assert first.corpus.tokenized_now and not again.corpus.tokenized_now
    assert again.corpus.folder == first.corpus.folder
    # eval's cache_dir is a folder of its own: it still reads what training wrote
    elsewhere = make(own_corpus, cache_dir=str(own_corpus.parent / "eval_cache"))
    assert elsewhere.corpus.folder == first.corpus.folder
    assert {p: p.stat().st_mtime_ns for p in shards} == written
    with (own_corpus / "b.jsonl").open("a", encoding="utf-8") as jsonl:
        jsonl.write(json.dumps({"text": "One more document."}) + "\n")
    changed = make(own_corpus)
    assert changed.corpus.tokenized_now and changed.corpus.folder != first.corpus.folder
    assert changed.corpus.index["documents"] == first.corpus.index["documents"] + 1


def test_two_processes_tokenize_to_the_same_tokens_as_one(own_corpus, tmp_path):
    one = make(own_corpus, cache_dir=str(tmp_path / "one"))
    two = make(own_corpus, cache_dir=str(tmp_path / "two"), num_proc=2)
    assert two.corpus.index["num_proc"] == 2 and two.corpus.tokenized_now
    assert np.array_equal(stream(one), stream(two))
    assert two.corpus.index["content_sha256"] == one.corpus.index["content_sha256"]
    assert (two.corpus.folder / "tokenizer.json").read_text() == two.tokenizer.to_json()
    assert not [p for p in (tmp_path / "two").iterdir() if ".partial-" in p.name]


@pytest.mark.parametrize("piece_bytes", [CHUNK_BYTES, 2 * CHUNK_BYTES, 1 << 20])
def test_text_files_cut_at_the_same_line_ends_whatever_the_piece_size(corpus, piece_bytes):
    files = find_inputs(str(corpus / "*.txt"))
    chunks = [text for piece in cut(files, piece_bytes) for text, _ in read_piece(piece, "text")]
    whole = [text for piece in cut(files, 1 << 20) for text, _ in read_piece(piece, "text")]
    assert chunks == whole and "".join(chunks) == "".join(f.read_text() for f in files)
    assert all(text.endswith("\n") for text in chunks[:-2])


def test_the_ranks_of_a_ddp_run_read_disjoint_windows_that_cover_the_epoch(corpus):
    datamodule = make(corpus)
    train = datamodule.splits["train"]
    shares = []
    for rank in (0, 1):
        torch.manual_seed(7)
        datamodule.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        shares.append([train.window(i) for i in datamodule.train_dataloader().sampler])
    assert not set(shares[0]) & set(shares[1])
    assert len(shares[0]) == len(shares[1]) == len(train) // 2
    every = {train.window(i) for i in range(len(train))}
    assert len(every - set(shares[0]) - set(shares[1])) == len(train) % 2


def test_orders_are_seeded_and_the_held_out_windows_do_not_follow_the_seed(corpus):
    def epoch(seed: int) -> tuple[list[int], set[int]]:
        torch.manual_seed(seed)
        datamodule = make(corpus)
        sampler = datamodule.train_dataloader().sampler
        val = datamodule.splits["val"]
        return list(sampler), {val.window(i) for i in range(len(val))}

    (order, held_out), (again, held_out_again), (other, held_out_other) = map(epoch, (1, 1, 2))
    assert order == again and order != other and sorted(order) == sorted(other)
    assert held_out == held_out_again == held_out_other
    train = make(corpus).splits["train"]
    assert not held_out & {train.window(i) for i in range(len(train))}
    x, y = train[0]
    assert x.shape == y.shape == (16,) and torch.equal(x[1:], y[:-1])


@pytest.mark.parametrize("n", [1, 2, 3, 17, 1000, 4099])
def test_a_permutation_takes_every_index_once_and_slices_agree(n):
    permutation = Permutation(n, seed=n)
    values = list(permutation)
    assert sorted(values) == list(range(n))
    assert [permutation[i] for i in range(n)] == values
    assert list(permutation[1::3][2:]) == values[1::3][2:]


def test_bad_input_is_one_line_naming_the_fix(own_corpus, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no text here")
    with pytest.raises(
        DataError, match=rf"data.path={empty}: the folder holds no .txt, .jsonl, .parquet file"
    ):
        make(empty)
    with pytest.raises(
        DataError,
        match=r"text_field=body: .*b.jsonl' byte 0 has no such text field \(it holds: text, id\)",
    ):
        make(
            own_corpus,
            text_field="body",
            tokenizer_file=str(MINILM / "tokenizer.json"),
            eos_token="[SEP]",
            num_proc=2,  # raised in a worker process, and the tokenization stops
        )
    assert not list((own_corpus / ".tuneforge-cache").glob("*corpus-*"))  # nothing half-made
    with pytest.raises(
        DataError,
        match=r'the tokenizer has no "<\|endoftext\|>" or "</s>".* \(its special tokens: \[PAD\], ',
    ):
        make(own_corpus, tokenizer_file=str(MINILM / "tokenizer.json"))
    with pytest.raises(DataError, match=r"data\.tokenizer_file=nowhere\.json does not exist"):
        make(own_corpus, tokenizer_file="nowhere.json")
    shard = make(own_corpus).corpus.shards[1][0]
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(DataError) as error:
        make(own_corpus)
    assert str(error.value) == (
        f"data: the token shard '{shard}' changed after it was written (its size or digest "
        f"differs from index.json's); delete the folder '{shard.parent}' and run again to "
        "tokenize the corpus anew"
    )


def test_a_pretrained_tokenizer_json_ends_documents_with_the_token_named(corpus):
    datamodule = make(corpus, tokenizer_file=str(MINILM / "tokenizer.json"), eos_token="[SEP]")
    sep = datamodule.tokenizer.tokenizer.token_to_id("[SEP]")
    ids = stream(datamodule)
    assert datamodule.spec["vocab_size"] == 30522 and (ids == sep).sum() == 92
    assert not (ids == datamodule.tokenizer.tokenizer.token_to_id("[CLS]")).any()  # no template


def _peak_rss_since_reset() -> int:
    """Peak resident memory in bytes since the last `_reset_peak_rss` (Linux)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def _reset_peak_rss() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # the peak becomes the current size
    return _peak_rss_since_reset()


LIMIT = 128 * 2**20  # the memory a corpus eight times as large may add to training


def test_a_corpus_eight_times_the_memory_limit_trains_within_it(own_corpus, tmp_path):
    """A run on a corpus of 8 * LIMIT bytes of tokens grows this process's peak resident memory
    by less than LIMIT. A first run on the small corpus warms up what any run allocates once
    (imports, the first optimizer step), so the peak that follows is the corpus's doing."""
    overrides = ["data=text_corpus", f"data.path={own_corpus}", "data.vocab_size=300"]
    overrides += ["data.tokenizer_sample_mb=0.05", "data.block_size=32", "data.batch_size=8"]
    overrides += ["data.num_proc=1", "model=gpt", "model.n_layer=1", "model.n_head=2"]
    overrides += ["model.n_embd=32", "trainer=cpu", "trainer.max_steps=10", "logger=none"]
    overrides += [
        "callbacks=none",
        "trainer.limit_val_batches=2",
        "trainer.enable_model_summary=false",
    ]

    def train(name: str) -> int:
        cfg = compose_config("train", [*overrides, f"paths.output_dir={tmp_path / name}"])
        built = build(cfg, tmp_path / name)
        built.trainer.fit(built.task, datamodule=built.datamodule)
        assert built.trainer.global_step == 10
        return len(built.datamodule.splits["train"]) + len(built.datamodule.splits["val"])

    small = train("warm")
    cache = make(own_corpus).corpus.folder
    try:
        size = inflate(cache, 8 * LIMIT)
        before = _reset_peak_rss()
        windows = train("big")
        grown = _peak_rss_since_reset() - before
    finally:
        shutil.rmtree(cache)
    assert size >= 8 * LIMIT and windows > 100 * small
    assert grown < LIMIT, f"{grown / 2**20:.0f} MiB"
