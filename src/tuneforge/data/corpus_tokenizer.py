"""The tokenizer of a text corpus, and the id that ends each of its documents.

Either a given `tokenizer.json` (the `tokenizers` library's: a pretrained model's, or one a run
saved), or a byte-level BPE trained once on a sample drawn evenly from the whole corpus and kept
in the cache folder, named by the inputs and the settings, so a second run does not train again.
"""

import json
from pathlib import Path

from tuneforge.atomic_files import write_atomic
from tuneforge.data.corpus_files import Piece, cut, read_piece
from tuneforge.data.corpus_shards import FORMAT, PIECE_BYTES, sha256_of
from tuneforge.data.tokenizers import BPETokenizer, tokenizer_from_json
from tuneforge.errors import DataError

# What ends a document when data.eos_token is null: the first of these the vocabulary holds.
EOS_TOKENS = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eos|>")
SAMPLE_PIECES = 1024  # the trained BPE's sample is read from at most this many places


def read_tokenizer_file(path: str) -> BPETokenizer:
    """The `tokenizers` library's tokenizer saved at `path`.

    Raises:
        DataError: when it is missing, not a tokenizer.json, or tuneforge's character tokenizer.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(
            f"data.tokenizer_file={path} does not exist; point it at a tokenizer.json, or set it "
            "to null to train a byte-level BPE of data.vocab_size tokens on the corpus"
        )
    try:
        tokenizer = tokenizer_from_json(file.read_text(encoding="utf-8"))
    except Exception as error:  # json's and the tokenizers library's errors alike
        reason = (str(error).splitlines() or [type(error).__name__])[0][:100]
        raise DataError(
            f"data.tokenizer_file={path} is not a tokenizer.json ({reason}); save one with the "
            "`tokenizers` library, or use a pretrained model's"
        ) from None
    if not isinstance(tokenizer, BPETokenizer):
        raise DataError(
            f"data.tokenizer_file={path} is a character tokenizer, which has no document end; "
            "use a `tokenizers` library tokenizer.json"
        )
    return tokenizer


def trained_tokenizer(
    files: list[Path],
    inputs: list[dict],
    text_field: str,
    vocab_size: int,
    sample_mb: float,
    roots: list[Path],
) -> BPETokenizer:
    """A byte-level BPE of `vocab_size` tokens, "<|endoftext|>" among them, trained on about
    `sample_mb` MB of the corpus, or read back from where an earlier run saved it."""
    key = sha256_of([FORMAT, inputs, text_field, vocab_size, sample_mb])[:16]
    name = f"tokenizer-bpe{vocab_size}-{key}.json"
    saved = next((root / name for root in roots if (root / name).is_file()), None)
    if saved is not None:
        return tokenizer_from_json(saved.read_text(encoding="utf-8"))
    text = "\n".join(_sample(cut(files, PIECE_BYTES[0]), text_field, int(sample_mb * 2**20)))
    if not text.strip():
        raise DataError(f"data.path: {len(files)} files without text to train a tokenizer on")
    tokenizer = BPETokenizer.train(text, vocab_size, special_tokens=[EOS_TOKENS[0]])
    write_atomic(roots[0] / name, lambda handle: handle.write(tokenizer.to_json()))
    return tokenizer


def _sample(pieces: list[Piece], text_field: str, budget: int) -> list[str]:
    """About `budget` characters of text, an equal share from each of up to SAMPLE_PIECES
    pieces spread over the corpus, so that every part of it is represented."""
    chosen = pieces[:: -(-len(pieces) // SAMPLE_PIECES)]
    share = budget // max(len(chosen), 1)
    texts = []
    for piece in chosen:
        taken = 0
        for text, _ in read_piece(piece, text_field):
            texts.append(text[: share - taken])
            taken += len(texts[-1])
            if taken >= share:
                break
    return texts


def eos_id(tokenizer: BPETokenizer, eos_token: str | None) -> int:
    """The id that ends every document: `eos_token`'s, or the first of EOS_TOKENS the
    vocabulary holds.

    Raises:
        DataError: when there is no such token.
    """
    names = (eos_token,) if eos_token is not None else EOS_TOKENS
    for name in names:
        found = tokenizer.tokenizer.token_to_id(name)
        if found is not None:
            return found
    added = sorted(tokenizer.tokenizer.get_added_tokens_decoder().items())
    specials = [token.content for _, token in added]
    raise DataError(
        f"data.eos_token={eos_token}: the tokenizer has no {' or '.join(map(json.dumps, names))} "
        f"to end documents with (its special tokens: {', '.join(specials) or 'none'}); set "
        "data.eos_token to one of its tokens"
    )
