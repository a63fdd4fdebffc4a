"""The input files of a text corpus, cut into pieces that worker processes read on their own.

A corpus is a folder (searched recursively, hidden folders such as a cache left out), a glob or
one file, of `.txt`, `.jsonl` and `.parquet` files. Documents: a `.txt` file is one document; a
`.jsonl` line or a `.parquet` row is one, its text in the `text_field` column.

A piece is a byte range of a text file, or a row group of a parquet file. Text files are cut at
line ends found from fixed offsets (multiples of CHUNK_BYTES), so the cuts, and therefore the
tokens, are the same whatever the piece size and the number of worker processes.
"""

import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from tuneforge.errors import DataError

SUFFIXES = (".txt", ".jsonl", ".parquet")
CHUNK_BYTES = 1 << 16  # a .txt file is encoded in chunks of about this size, cut at line ends


@dataclass(frozen=True)
class Piece:
    """What one worker reads: bytes [start, stop) of a text file (widened to line ends), or
    row group `start` of a parquet file. `last` marks a file's final piece."""

    path: str
    start: int
    stop: int
    last: bool


def find_inputs(path: str) -> list[Path]:
    """The corpus files `path` names (a folder, a glob or a file), sorted, hidden ones left out.

    Raises:
        DataError: when it names no file with one of SUFFIXES.
    """
    given = Path(path).expanduser()
    if given.is_file():
        found = [given]
    elif given.is_dir():
        found = [p for p in given.rglob("*") if not _hidden(p.relative_to(given))]
    else:
        found = [Path(p) for p in glob.glob(str(given), recursive=True)]
    files = sorted(p for p in found if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        kind = "folder" if given.is_dir() else "file" if given.is_file() else "path or glob"
        raise DataError(
            f"data.path={path}: the {kind} holds no {', '.join(SUFFIXES)} file to read; point "
            "it at a folder or glob of such files"
        )
    return files


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def cut(files: list[Path], piece_bytes: int) -> list[Piece]:
    """Every file's pieces, in file order: text files every `piece_bytes` (a multiple of
    CHUNK_BYTES), parquet files one piece per row group."""
    pieces = []
    for file in files:
        if file.suffix.lower() == ".parquet":
            groups = _parquet(file).metadata.num_row_groups
            pieces += [Piece(str(file), g, g + 1, g == groups - 1) for g in range(groups)]
            continue
        size = file.stat().st_size
        starts = range(0, size, piece_bytes)  # none for an empty file: no document
        pieces += [Piece(str(file), a, min(a + piece_bytes, size), a == starts[-1]) for a in starts]
    return pieces


def read_piece(piece: Piece, text_field: str) -> Iterator[tuple[str, bool]]:
    """The piece's texts in order, each with whether a document ends after it."""
    suffix = Path(piece.path).suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(piece, text_field)
        return
    with open(piece.path, "rb") as stream:
        if suffix == ".txt":
            yield from _text_chunks(stream, piece)
        else:
            yield from _json_lines(stream, piece, text_field)


def _line_start(stream, offset: int) -> int:
    """The first line start at or after `offset`: a piece or chunk boundary."""
    if offset == 0:
        return 0
    stream.seek(offset - 1)
    stream.readline()
    return stream.tell()


def _text_chunks(stream, piece: Piece) -> Iterator[tuple[str, bool]]:
    cuts = [_line_start(stream, a) for a in range(piece.start, piece.stop, CHUNK_BYTES)]
    cuts.append(_line_start(stream, piece.stop))
    cuts = sorted(set(cuts))
    for number, (a, b) in enumerate(pairwise(cuts)):
        stream.seek(a)
        yield _decoded(stream.read(b - a), piece.path, a), piece.last and number == len(cuts) - 2
    if len(cuts) == 1 and piece.last:  # a last piece inside a long line that an earlier one read
        yield "", True


def _decoded(raw: bytes, path: str, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"data.path: '{path}' is not UTF-8 (byte {offset + error.start}: {error.reason}); "
            "convert it, e.g. iconv -f LATIN1 -t UTF-8"
        ) from None


def _json_lines(stream, piece: Piece, text_field: str) -> Iterator[tuple[str, bool]]:
    position = _line_start(stream, piece.start)
    stream.seek(position)
    while position < piece.stop:
        line = stream.readline()
        if not line:
            break
        at, position = position, position + len(line)
        if not line.strip():
            continue
        try:
            record = json.loads(_decoded(line, piece.path, at))
        except json.JSONDecodeError as error:
            raise DataError(
                f"data.path: '{piece.path}' byte {at} is not a line of JSON ({error.msg}); write "
                "one JSON object per line"
            ) from None
        text = _field(record, text_field, f"'{piece.path}' byte {at}")
        if text:
            yield text, True


def _field(record, text_field: str, where: str) -> str:
    """The record's text, or a one-line error naming where it is and what it holds."""
    if isinstance(record, dict) and isinstance(record.get(text_field), str):
        return record[text_field]
    fields = ", ".join(record) if isinstance(record, dict) else type(record).__name__
    raise DataError(
        f"data.text_field={text_field}: {where} has no such text field (it holds: {fields}); "
        "set data.text_field to the field that holds the text"
    )


def _parquet(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"data.path: '{path}' is a parquet file, and reading one needs pyarrow: "
            "pip install pyarrow"
        ) from None
    return pq.ParquetFile(path)


def _parquet_rows(piece: Piece, text_field: str) -> Iterator[tuple[str, bool]]:
    table = _parquet(Path(piece.path))
    if text_field not in table.schema_arrow.names:
        raise DataError(
            f"data.text_field={text_field} is not a column of '{piece.path}' (columns: "
            f"{', '.join(table.schema_arrow.names)}); set data.text_field to its text column"
        )
    column = table.read_row_group(piece.start, columns=[text_field]).column(0)
    for text in column.to_pylist():
        if text:
            yield str(text), True
