"""Reading CSV and JSONL files as tables of strings, with one-line errors that name the fix."""

import codecs
import difflib
import io
import json
import re
from pathlib import Path

import pandas as pd

JSONL_SUFFIXES = (".jsonl", ".ndjson")
RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_table(path: Path, key: str, encoding: str) -> pd.DataFrame:
    """Every field of a CSV or JSONL file as a string; an empty or blank one as NaN.

    `key` names the setting that gave the path, so that an error tells the user what to change.

    Raises:
        FileNotFoundError: when there is no such file.
        ValueError: when it is a folder, empty, binary, not in `encoding`, or not valid CSV or
            JSONL.
    """
    require_file(path, key, "a CSV or JSONL file")
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{key} '{path}' is empty; it needs a header row and rows of text")
    wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))  # these hold NUL bytes
    if b"\x00" in raw[:8192] and not wide:
        raise ValueError(f"{key} '{path}' is a binary file, not text; export it as CSV or JSONL")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as ex:
        other = "latin-1" if codecs.lookup(encoding).name == "utf-8" else "utf-8"
        fix = f"set data.encoding={other} if that is how it was saved"
        if key != "data.path":
            fix = f"re-save it as {encoding}, the encoding the model was trained with"
        raise ValueError(
            f"{key} '{path}' is not {encoding} text (byte {raw[ex.start]:#04x} at offset "
            f"{ex.start}); {fix}"
        ) from None
    if path.suffix.lower() in JSONL_SUFFIXES:
        table = _read_jsonl(text, path, key)
    else:
        separator = "\t" if path.suffix.lower() == ".tsv" else ","
        table = read_csv(path, key, text, separator)
    if table.empty:
        raise ValueError(f"{key} '{path}' has no rows of data; add rows")
    table.columns = [str(name).strip() for name in table.columns]
    return table.mask(table.apply(lambda column: column.str.strip() == ""))


def require_file(path: Path, key: str, wanted: str) -> None:
    """Raises FileNotFoundError when `path` does not exist, ValueError when it is a folder (a
    folder exists, so "does not exist" would mislead). `wanted` says what to pass instead.
    """
    if path.is_dir():
        raise ValueError(f"{key} '{path}' is a folder, but it takes one file; pass {wanted}")
    if not path.is_file():
        raise FileNotFoundError(f"{key} '{path}' does not exist; pass {wanted}")


def _read_jsonl(text: str, path: Path, key: str) -> pd.DataFrame:
    """One JSON object per line; blank lines are skipped. Values become strings, null NaN."""
    records = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 is text
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as ex:
            raise ValueError(
                f"{key} '{path}' line {number} is not JSON ({ex.msg} at column {ex.colno}); "
                "write one JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise ValueError(
                f"{key} '{path}' line {number} holds a JSON {type(record).__name__}, not an "
                'object; write one object per line, e.g. {"text": "...", "label": "..."}'
            )
        records.append({name: None if v is None else str(v) for name, v in record.items()})
    return pd.DataFrame.from_records(records).astype(object)


def read_csv(path: Path, key: str, text: str | None = None, separator: str = ",") -> pd.DataFrame:
    """Every field of a CSV file as a string, read from the file itself (as UTF-8) or from
    `text`, its contents decoded already.

    Raises:
        ValueError: when it has no header row, or a row has more fields than the header.
        UnicodeDecodeError: when the file is read and is not UTF-8.
    """
    source = path if text is None else io.StringIO(text)
    try:
        return pd.read_csv(source, sep=separator, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as ex:
        raise ValueError(f"{key} '{path}' is empty; it needs a header row and rows of data") from ex
    except pd.errors.ParserError as ex:
        raise ValueError(f"{key} '{path}' is not valid CSV: {_parser_problem(ex)}") from ex


def _parser_problem(error: pd.errors.ParserError) -> str:
    """pandas' complaint about a CSV file, rephrased as the line to fix."""
    ragged = RAGGED.search(str(error))
    if ragged is None:
        return f"{str(error).strip().splitlines()[0]}; fix the file or export it again as CSV"
    expected, line, saw = ragged.groups()
    return (
        f"line {line} has {saw} fields but the header has {expected}; remove the extra fields or "
        "quote the values that hold a comma"
    )


def require_column(table: pd.DataFrame, key: str, name: str, path: Path) -> None:
    """Raises ValueError naming the closest column when `name` is not a column of the table."""
    if name in table.columns:
        return
    folded = {str(column).casefold(): str(column) for column in table.columns}
    close = difflib.get_close_matches(str(name).casefold(), list(folded), n=1)
    hint = f"did you mean '{folded[close[0]]}'? " if close else ""
    raise ValueError(
        f"{key}='{name}' is not a column of '{path}'; {hint}columns: {', '.join(folded.values())}"
    )
