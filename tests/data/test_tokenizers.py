"""The tokenizers on tiny Shakespeare: vocabularies, round trips, unknown text, their JSON."""

import pytest

from tuneforge.data.tokenizers import BPETokenizer, CharTokenizer, tokenizer_from_json

from ..conftest import SHAKESPEARE

SLICE = 50_000


@pytest.fixture(scope="module")
def shakespeare() -> str:
    return SHAKESPEARE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bpe(shakespeare) -> BPETokenizer:
    return BPETokenizer.train(shakespeare[:SLICE], vocab_size=300)


def test_the_full_file_has_65_characters(shakespeare):
    assert len(shakespeare) == 1_115_394
    assert CharTokenizer.train(shakespeare).vocab_size == 65 + 1  # and <unk>


def test_char_round_trip_and_unknown_characters(shakespeare):
    tokenizer = CharTokenizer.train(shakespeare[:SLICE])
    assert tokenizer.chars == "".join(sorted(set(shakespeare[:SLICE])))
    sample = "First Citizen:\nBefore we proceed any further, hear me speak."
    assert tokenizer.decode(tokenizer.encode(sample)) == sample
    assert tokenizer.encode("€") == [tokenizer.unk_id]
    assert tokenizer.unk_id == tokenizer.vocab_size - 1
    assert tokenizer.decode([tokenizer.unk_id]) == "\ufffd"


def test_bpe_round_trip_and_vocab_size(bpe):
    assert bpe.vocab_size == 300
    sample = "O Romeo, Romeo! wherefore art thou Romeo? Ünïcödé ✓"
    ids = bpe.encode(sample)
    assert bpe.decode(ids) == sample
    assert len(ids) < len(sample.encode("utf-8"))  # merges were learnt


def test_both_kinds_come_back_from_their_json(bpe):
    char = tokenizer_from_json(CharTokenizer("ab").to_json())
    assert isinstance(char, CharTokenizer) and char.encode("ba") == [1, 0]
    again = tokenizer_from_json(bpe.to_json())
    sample = "Wherefore art thou?"
    assert isinstance(again, BPETokenizer) and again.encode(sample) == bpe.encode(sample)


def test_the_tokenizers_library_reads_the_bpe_json(bpe):
    from tokenizers import Tokenizer

    sample = "To be, or not to be"
    assert Tokenizer.from_str(bpe.to_json()).encode(sample).ids == bpe.encode(sample)
