"""The tokenizers of text data: one id per character, or a byte-level BPE.

A tokenizer travels as its `to_json()` string (in a checkpoint's data state, or a run folder's
`tokenizer.json`); `tokenizer_from_json` reads either kind back.
"""

import json
from collections.abc import Sequence
from typing import Any

TOKENIZERS = ("char", "bpe")
MIN_BPE_VOCAB = 260  # the 256 byte symbols and at least a few merges
UNKNOWN = "\ufffd"  # what the char tokenizer's <unk> id decodes to, as undecodable bytes do


class CharTokenizer:
    """One id per character seen in training, sorted, and a last id for anything unseen.

    Args:
        chars: the vocabulary, one character per id.
    """

    def __init__(self, chars: str) -> None:
        self.chars = chars
        self.unk_id = len(chars)  # reserved, so val text with a new character still encodes
        self._ids = {char: index for index, char in enumerate(chars)}

    @classmethod
    def train(cls, text: str) -> "CharTokenizer":
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1

    def encode(self, text: str) -> list[int]:
        return [self._ids.get(char, self.unk_id) for char in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] if i < self.unk_id else UNKNOWN for i in ids)

    def to_json(self) -> str:
        return json.dumps({"type": "char", "chars": self.chars})


class BPETokenizer:
    """A byte-level BPE from the `tokenizers` library: any text encodes, none becomes unknown.

    Args:
        tokenizer: a `tokenizers.Tokenizer`, trained here or loaded from a `tokenizer.json`.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    @classmethod
    def train(
        cls, text: str, vocab_size: int, special_tokens: Sequence[str] = ()
    ) -> "BPETokenizer":
        """A BPE of `vocab_size` tokens learnt from `text`; `special_tokens` (a document
        separator) take the first ids and are never merged with text."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=list(special_tokens),
            show_progress=False,
        )
        tokenizer.train_from_iterator(text.splitlines(keepends=True), trainer)
        return cls(tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def to_json(self) -> str:
        """A `tokenizer.json` that the `tokenizers` library reads too."""
        return self.tokenizer.to_str()


Tokenizer = CharTokenizer | BPETokenizer


def tokenizer_from_json(text: str) -> Tokenizer:
    """The tokenizer a `to_json()` string describes: ours for characters, else a BPE."""
    described = json.loads(text)
    if described.get("type") == "char":
        return CharTokenizer(described["chars"])
    from tokenizers import Tokenizer as HFTokenizer

    return BPETokenizer(HFTokenizer.from_str(text))
