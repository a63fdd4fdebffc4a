"""The text DataModule on tiny Shakespeare: splits, blocks, the token cache, its state, errors."""

import io
from pathlib import Path

import pytest
import torch

from tuneforge.data.text import TextLMDataModule
from tuneforge.data.tokenizers import CharTokenizer

from ..conftest import SHAKESPEARE

SLICE = 50_000


@pytest.fixture(scope="module")
def shakespeare() -> str:
    return SHAKESPEARE.read_text(encoding="utf-8")


@pytest.fixture
def corpus(tmp_path, shakespeare) -> Path:
    path = tmp_path / "shakespeare.txt"
    path.write_text(shakespeare[:SLICE], encoding="utf-8")
    return path


def setup_text(path: Path, **kwargs) -> TextLMDataModule:
    datamodule = TextLMDataModule(path=str(path), **kwargs)
    datamodule.setup("fit")
    return datamodule


def test_char_vocabulary_comes_from_the_training_split_only(corpus):
    text = corpus.read_text(encoding="utf-8")
    datamodule = setup_text(corpus, val_fraction=0.1)
    train = text[: SLICE - SLICE // 10]
    assert datamodule.tokenizer.chars == "".join(sorted(set(train)))
    assert datamodule.spec == {
        "vocab_size": len(set(train)) + 1,
        "block_size": 64,
        "chars_per_token": 1.0,
        "task": "language_modeling",
    }


def test_bpe_vocab_size_and_characters_per_token(corpus):
    datamodule = setup_text(corpus, tokenizer="bpe", vocab_size=300)
    assert datamodule.spec["vocab_size"] == 300
    val_text = corpus.read_text(encoding="utf-8")[SLICE - SLICE // 10 : SLICE]
    val_tokens = len(datamodule.splits["val"].ids)
    assert datamodule.spec["chars_per_token"] == pytest.approx(len(val_text) / val_tokens)
    assert datamodule.spec["chars_per_token"] > 1.2


def test_val_is_the_last_fraction_of_the_text(corpus):
    text = corpus.read_text(encoding="utf-8")
    datamodule = setup_text(corpus, val_fraction=0.2, block_size=32)
    tokenizer = datamodule.tokenizer
    cut = SLICE - SLICE // 5
    train_ids = datamodule.splits["train"].ids
    val_ids = datamodule.splits["val"].ids
    assert tokenizer.decode(train_ids.tolist()) == text[:cut]
    assert val_ids.tolist() == tokenizer.encode(text[cut:])
    unseen = set(text[cut:]) - set(text[:cut])  # this slice's val has letters training lacks
    assert unseen and tokenizer.decode(val_ids.tolist()).count("\ufffd") == sum(
        text[cut:].count(char) for char in unseen
    )
    assert datamodule.splits["test"] is datamodule.splits["val"]


def test_train_draws_an_epoch_of_batches_and_val_covers_its_split(corpus):
    datamodule = setup_text(corpus, block_size=16, batch_size=4, batches_per_epoch=3)
    train, val = datamodule.splits["train"], datamodule.splits["val"]
    assert len(train) == 3 * 4
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert len(val) == (len(val.ids) - 1) // 16 and val.block_size == 16


def test_validation_reads_a_fixed_sample_and_the_test_the_whole_split(corpus):
    datamodule = setup_text(corpus, block_size=16, batch_size=4, val_sample_batches=3)
    sample, whole = datamodule.splits["val"], datamodule.splits["test"]
    assert len(sample) == 3 * 4 and len(whole) == (len(whole.ids) - 1) // 16 > 100
    passes = [torch.cat([x for x, _ in datamodule.val_dataloader()]) for _ in range(2)]
    assert torch.equal(passes[0], passes[1])  # the same windows at every validation
    assert torch.equal(passes[0][0], whole[0][0]) and torch.equal(
        passes[0][-1], whole[len(whole) - 1][0]
    )
    tested = torch.cat([x for x, _ in datamodule.test_dataloader()])
    assert len(tested) == len(whole)
    larger = setup_text(corpus, block_size=16, batch_size=4, val_sample_batches=10_000)
    assert len(larger.splits["val"]) == len(whole)  # a sample larger than the split is the split


def test_a_second_setup_reads_the_cache(corpus, monkeypatch):
    first = setup_text(corpus)
    bins = sorted((corpus.parent / ".tuneforge_cache").glob("*.bin"))
    assert [path.name.split("-")[0] for path in bins] == ["train", "val"]
    calls = []
    encode = CharTokenizer.encode
    monkeypatch.setattr(CharTokenizer, "encode", lambda self, t: calls.append(t) or encode(self, t))
    second = setup_text(corpus)
    assert calls == []
    assert second.splits["val"].ids.tolist() == first.splits["val"].ids.tolist()
    setup_text(corpus, val_fraction=0.3)  # another split is another file
    assert len(calls) == 2


def test_state_round_trip_through_a_checkpoint(corpus, tmp_path):
    trained = setup_text(corpus, tokenizer="bpe", vocab_size=280, cache_dir=str(tmp_path / "a"))
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = TextLMDataModule(path=str(corpus), tokenizer="bpe", cache_dir=str(tmp_path / "b"))
    restored.load_state_dict(state)
    restored.setup("fit")
    for split in ("train", "val"):
        assert restored.splits[split].ids.tolist() == trained.splits[split].ids.tolist()
    assert restored.spec["vocab_size"] == 280


def test_a_saved_tokenizer_file_is_used_instead_of_training(corpus, tmp_path):
    trained = setup_text(corpus, tokenizer="bpe", vocab_size=270)
    (tmp_path / "tokenizer.json").write_text(trained.tokenizer.to_json(), encoding="utf-8")
    loaded = setup_text(corpus, tokenizer="bpe", tokenizer_file=str(tmp_path / "tokenizer.json"))
    assert loaded.tokenizer.vocab_size == 270  # not the default 512
    assert loaded.splits["val"].ids.tolist() == trained.splits["val"].ids.tolist()


def test_a_url_is_downloaded_once(corpus, tmp_path):
    cache = tmp_path / "cache"
    datamodule = TextLMDataModule(url=corpus.as_uri(), cache_dir=str(cache))  # file://, no network
    datamodule.setup("fit")
    (download,) = cache.glob("*-shakespeare.txt")
    assert download.read_bytes() == corpus.read_bytes()
    corpus.unlink()  # a second run does not fetch again
    TextLMDataModule(url=corpus.as_uri(), cache_dir=str(cache)).setup("fit")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give exactly one of data.path, data.url"),
        ({"path": "a.txt", "url": "http://x"}, "give exactly one"),
        ({"path": "a.txt", "tokenizer": "word"}, "tokenizer='word' is not allowed; it must be one"),
        ({"path": "a.txt", "tokenizer": "bpe", "vocab_size": 259}, "bpe needs at least 260"),
        ({"path": "a.txt", "block_size": 0}, "block_size=0 is not allowed"),
        ({"path": "a.txt", "val_fraction": 1.0}, "val_fraction=1.0 is not allowed"),
        ({"path": "a.txt", "val_sample_batches": 0}, "val_sample_batches=0 is not allowed"),
        ({"path": "a.txt", "train_transforms": [abs]}, "text takes no image augmentation"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextLMDataModule(**kwargs)


def test_file_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"data.path '.*missing\.txt' does not exist; point it"
    ):
        setup_text(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.txt' is empty; point it"):
        setup_text(tmp_path / "empty.txt")
    (tmp_path / "latin.txt").write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.txt' is not UTF-8 .*convert it"):
        setup_text(tmp_path / "latin.txt")
    (tmp_path / "short.txt").write_text("x" * 200, encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"short\.txt': its val split holds 20 tokens.*smaller data\.block_size"
    ):
        setup_text(tmp_path / "short.txt", block_size=64)


def test_spec_before_setup_and_bad_state_are_refused(corpus):
    datamodule = TextLMDataModule(path=str(corpus))
    with pytest.raises(RuntimeError, match="call setup"):
        datamodule.spec  # noqa: B018
    with pytest.raises(ValueError, match="not a TextLMDataModule state"):
        datamodule.load_state_dict({"chars": "abc"})
    assert datamodule.state_dict() == {}
