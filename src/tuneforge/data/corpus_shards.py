"""A text corpus tokenized once, in parallel, into a cache folder of token shards and an index.

The folder is named by a key over the input files (relative path, size, modification time), the
tokenizer and the settings, so a second run over the same corpus finds it at once and a changed
file is tokenized again. It is written under a temporary name and renamed when complete: an
interrupted tokenization never looks finished. Its `index.json` names the shards with their token
counts and a digest of each (size and the first and last 64 KiB, checked at every setup, so a
shard changed under a run is refused), the input files with their sha256, and a content hash
over those, the tokenizer and the settings.

Worker processes are started with `spawn` (safe after torch has started threads; a script that
sets up the data itself needs Python's `if __name__ == "__main__":` guard) and each reads and
encodes its pieces of the corpus on its own; the shards keep the pieces' order, so the token
stream is the same with any number of processes.
"""

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuneforge.caches import user_cache_dir
from tuneforge.data.corpus_files import CHUNK_BYTES, Piece, cut, read_piece
from tuneforge.errors import DataError

log = logging.getLogger(__name__)

FORMAT = 1  # of index.json and the shards; a new format tokenizes again
INDEX = "index.json"  # written last into a folder that is renamed when complete
CACHE = ".tuneforge-cache"
DIGEST_BYTES = 1 << 16  # a shard's digest covers its size and this much of its head and tail
PIECE_BYTES = (1 << 20, 1 << 26)  # the smallest and largest piece a worker encodes
ENCODE_BYTES = 1 << 20  # texts encoded in one call of the tokenizer

_worker: dict[str, Any] = {}  # a worker process's tokenizer and settings (see _start_worker)


@dataclass
class TokenizedCorpus:
    """A complete cache folder and its index."""

    folder: Path
    index: dict[str, Any]
    tokenized_now: bool = False

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.index["dtype"])

    @property
    def shards(self) -> list[tuple[Path, int]]:
        """Every shard file with its token count, in corpus order."""
        return [(self.folder / s["file"], s["tokens"]) for s in self.index["shards"]]

    def verify(self) -> None:
        """Raises DataError naming a shard whose size or digest differs from the index's."""
        for shard in self.index["shards"]:
            path = self.folder / shard["file"]
            if not path.is_file() or head_tail_digest(path) != shard["digest"]:
                raise DataError(
                    f"data: the token shard '{path}' changed after it was written (its size or "
                    f"digest differs from {INDEX}'s); delete the folder '{self.folder}' and run "
                    "again to tokenize the corpus anew"
                )


def shard_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer that holds every id: half the disk of int32 for most vocabs."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def head_tail_digest(path: Path) -> str:
    """sha256 over a file's size, first and last DIGEST_BYTES: cheap, and a change of length or
    of either end shows (a full hash of every shard at each start would read the whole corpus)."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as stream:
        digest.update(stream.read(DIGEST_BYTES))
        stream.seek(max(size - DIGEST_BYTES, 0))
        digest.update(stream.read(DIGEST_BYTES))
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def fingerprint(files: list[Path], root: Path) -> list[dict[str, Any]]:
    """Each input's path (relative to the corpus root), size and modification time."""
    stats = [(file, file.stat()) for file in files]
    return [
        {"path": _relative(file, root), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        for file, st in stats
    ]


def _relative(file: Path, root: Path) -> str:
    return str(file.resolve().relative_to(root.resolve())) if root in file.parents else str(file)


def corpus_root(path: str, files: list[Path]) -> Path:
    """The folder the corpus lives in: `path` itself, or the inputs' common parent."""
    given = Path(path).expanduser()
    return given if given.is_dir() else Path(os.path.commonpath([f.parent for f in files]))


def cache_roots(root: Path, cache_dir: str | None) -> list[Path]:
    """Where a cache folder is looked for, the first being where a new one is written:
    `cache_dir` if given, else `.tuneforge-cache` in the corpus folder where writable, else the
    user's cache. Both of those are looked in also when `cache_dir` is given, so that eval,
    whose cache_dir is a folder of its own, reads what training wrote."""
    beside, user = root / CACHE, user_cache_dir("corpus")
    writable = os.access(beside if beside.is_dir() else root, os.W_OK)
    defaults = [beside, user] if writable else [user, beside]
    return defaults if cache_dir is None else [Path(cache_dir).expanduser(), *defaults]


def cache_name(inputs: list[dict], tokenizer_json: str, eos_id: int, text_field: str) -> str:
    """The cache folder's name: a hash over the inputs' fingerprint, the tokenizer and the
    settings that change the tokens."""
    settings = {"format": FORMAT, "eos_id": eos_id, "text_field": text_field}
    return f"corpus-{sha256_of([inputs, tokenizer_json, settings])[:16]}"


def find_cached(roots: list[Path], name: str) -> Path | None:
    return next((r / name for r in roots if (r / name / INDEX).is_file()), None)


def tokenize(
    path: str,
    files: list[Path],
    tokenizer_json: str,
    eos_id: int,
    text_field: str,
    target: Path,
    num_proc: int,
) -> TokenizedCorpus:
    """Tokenize `files` into the cache folder `target` with `num_proc` worker processes.

    Raises:
        DataError: for unreadable input, or input that changed while it was read.
    """
    from tokenizers import Tokenizer

    root = corpus_root(path, files)
    before = fingerprint(files, root)
    total = sum(f.stat().st_size for f in files)
    # pieces small enough that every process gets several, as large as sensible otherwise
    piece = min(max(total // (8 * max(num_proc, 1)), PIECE_BYTES[0]), PIECE_BYTES[1])
    pieces = cut(files, piece - piece % CHUNK_BYTES)
    vocab_size = Tokenizer.from_str(tokenizer_json).get_vocab_size()
    dtype = shard_dtype(vocab_size)
    settings = {"format": FORMAT, "eos_id": eos_id, "text_field": text_field}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    log.info("Tokenizing %s (%.1f MB, %d files) into %s", path, total / 1e6, len(files), target)
    start = time.perf_counter()
    try:
        worker = (tokenizer_json, eos_id, dtype.str, text_field, str(partial))
        jobs = list(enumerate(pieces))
        shards, sums = _run(jobs, files, worker, num_proc, [p.stop - p.start for p in pieces])
        if fingerprint(files, root) != before:
            raise DataError(
                f"data.path={path}: files changed while they were tokenized; run again once "
                "nothing writes to the corpus"
            )
        index = _index(before, sums, shards, tokenizer_json, settings)
        index |= {"dtype": dtype.name, "vocab_size": vocab_size, "num_proc": num_proc}
        index["tokenize_seconds"] = round(time.perf_counter() - start, 2)
        (partial / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        (partial / INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
        _publish(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    log.info(
        "Tokenized %d documents into %d tokens (%d shards, %.1f MB) in %.1f s with %d processes",
        index["documents"],
        index["tokens"],
        len(shards),
        index["tokens"] * dtype.itemsize / 1e6,
        index["tokenize_seconds"],
        num_proc,
    )
    return TokenizedCorpus(target, json.loads((target / INDEX).read_text()), tokenized_now=True)


def _run(jobs, files, worker, num_proc: int, sizes: list[int]) -> tuple[list, list[str]]:
    """Encode every piece and hash every input file, in `num_proc` spawned processes (in this
    one when it is 1 or less), showing progress over the corpus's bytes."""
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TimeRemainingColumn

    columns = (*Progress.get_default_columns()[:2], DownloadColumn(), TimeRemainingColumn())
    results: list[dict | None] = [None] * len(jobs)
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("tokenizing", total=sum(sizes))
        if num_proc <= 1:
            _start_worker(*worker)
            for number, piece in jobs:
                results[number] = _encode_piece(number, piece)
                progress.advance(task, sizes[number])
            sums = [file_sha256(str(f)) for f in files]
        else:
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(num_proc, spawn, _start_spawned, worker) as pool:
                try:
                    hashes = pool.map(file_sha256, [str(f) for f in files])
                    futures = [pool.submit(_encode_piece, n, p) for n, p in jobs]
                    for number, future in enumerate(futures):
                        results[number] = future.result()
                        progress.advance(task, sizes[number])
                    sums = list(hashes)
                except BaseException:  # a bad file: say so now, not after every other piece
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    return [r for r in results if r is not None], sums


def _start_spawned(*worker: Any) -> None:
    """A worker process's setup. One thread each: the processes are the parallelism, and the
    tokenizers library's own threads would only compete with them."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _start_worker(*worker)


def _start_worker(tokenizer_json: str, eos_id: int, dtype: str, field: str, out: str) -> None:
    """The tokenizer and settings `_encode_piece` uses, loaded once per process."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.encode_special_tokens = True  # a "<|endoftext|>" in the text is text, not EOS
    _worker.update(tokenizer=tokenizer, eos=eos_id, dtype=np.dtype(dtype), field=field, out=out)


def _encode_piece(number: int, piece: Piece) -> dict | None:
    """Encode one piece into shard `number` of the partial folder; its index entry (None for a
    piece without text). Documents end with the EOS id."""
    tokenizer, eos, dtype = _worker["tokenizer"], _worker["eos"], _worker["dtype"]
    path = Path(_worker["out"]) / f"shard-{number:06d}.bin"
    counts = {"tokens": 0, "documents": 0, "characters": 0}
    with path.open("wb") as out:
        for texts, ends in _batches(read_piece(piece, _worker["field"])):
            encoded = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
            ids: list[int] = []
            for encoding, end in zip(encoded, ends, strict=True):
                ids += encoding.ids
                ids += [eos] if end else []
            np.asarray(ids, dtype=dtype).tofile(out)
            counts["tokens"] += len(ids)
            counts["documents"] += sum(ends)
            counts["characters"] += sum(map(len, texts))
    if counts["tokens"] == 0:
        path.unlink()
        return None
    return {"file": path.name, **counts, "digest": head_tail_digest(path)}


def _batches(texts: Iterable[tuple[str, bool]]) -> Iterator[tuple[list[str], list[bool]]]:
    """(texts, ends) of about ENCODE_BYTES of text each."""
    batch: list[str] = []
    ends: list[bool] = []
    size = 0
    for text, end in texts:
        batch.append(text)
        ends.append(end)
        size += len(text)
        if size >= ENCODE_BYTES:
            yield batch, ends
            batch, ends, size = [], [], 0
    if batch:
        yield batch, ends


def _index(inputs, sums, shards, tokenizer_json: str, settings: dict) -> dict[str, Any]:
    """index.json's content, less what `tokenize` adds: the inputs with their sha256, the
    shards, the totals and the content hash over inputs, tokenizer and settings."""
    for entry, sha256 in zip(inputs, sums, strict=True):
        entry["sha256"] = sha256
    tokenizer_sha256 = hashlib.sha256(tokenizer_json.encode()).hexdigest()
    content = [[e["path"], e["sha256"]] for e in inputs]
    totals = {k: sum(s[k] for s in shards) for k in ("documents", "tokens", "characters")}
    return {
        **settings,
        "tokenizer_sha256": tokenizer_sha256,
        "content_sha256": sha256_of([content, tokenizer_sha256, settings]),
        **totals,
        "inputs": inputs,
        "shards": shards,
    }


def _publish(partial: Path, target: Path) -> None:
    """Rename the complete folder into place; where another process finished the same corpus
    first, keep theirs."""
    try:
        partial.rename(target)
    except OSError:
        if not (target / INDEX).is_file():
            raise
        shutil.rmtree(partial)


def load(folder: Path) -> TokenizedCorpus:
    return TokenizedCorpus(folder, json.loads((folder / INDEX).read_text(encoding="utf-8")))
