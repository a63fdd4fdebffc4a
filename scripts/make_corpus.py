"""A real pretraining corpus that installs offline: GCIDE, the Collaborative International
Dictionary of English (Webster's 1913 and WordNet entries, ~40 MB of text), as a folder of JSONL
files for `data=text_corpus`, one dictionary entry per document.

    apt-get install dict-gcide
    python scripts/make_corpus.py data/gcide
    tuneforge train data=text_corpus data.path=data/gcide

Debian's dict-gcide ships the dictionary in dictd's format: `gcide.dict.dz` (gzip-compatible)
and `gcide.index`, whose lines give each headword the byte offset and length of its entry in
base64 digits. Headwords that share an entry give one document; the database's own entries
(00-database-*) are left out, and its notice, which asks that copies keep it, is written to the
folder as COPYING, which tuneforge does not read as text.
"""

import argparse
import gzip
import json
import sys
from pathlib import Path

DICTD = Path("/usr/share/dictd")
DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
DATABASE = "00-database-"  # dictd's entries about the database itself


def _number(digits: str) -> int:
    """A dictd index number: base64 digits, most significant first."""
    value = 0
    for digit in digits:
        value = value * 64 + DIGITS.index(digit)
    return value


def entries(index: Path, text: bytes) -> tuple[list[tuple[str, str]], str]:
    """(headword, entry text) for every distinct entry in dictionary order, and the notice."""
    seen: dict[tuple[int, int], list[str]] = {}
    notice = ""
    for line in index.read_text(encoding="utf-8").splitlines():
        headword, offset, length = line.split("\t")
        span = (_number(offset), _number(length))
        if headword.startswith(DATABASE):
            if headword == f"{DATABASE}info":
                notice = text[span[0] : sum(span)].decode("utf-8")
            continue
        seen.setdefault(span, []).append(headword)
    found = []
    for (start, length), words in sorted(seen.items()):  # by offset: the dictionary's order
        entry = _decoded(text[start : start + length]).strip()
        # the entry's own headword, where other words (synonyms) point to it too
        found.append((next((w for w in words if entry.startswith(w)), words[0]), entry))
    return found, notice


def _decoded(raw: bytes) -> str:
    """An entry's text: UTF-8, but for a few entries holding a stray Windows-1252 quote."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def write(out: Path, found: list[tuple[str, str]], notice: str, per_file: int) -> int:
    """JSONL files of `per_file` entries each ({"text", "headword"}); the number written."""
    out.mkdir(parents=True, exist_ok=True)
    for number, start in enumerate(range(0, len(found), per_file)):
        lines = [
            json.dumps({"text": text, "headword": word}, ensure_ascii=False)
            for word, text in found[start : start + per_file]
        ]
        (out / f"gcide-{number:03d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "COPYING").write_text(notice, encoding="utf-8")
    return (len(found) + per_file - 1) // per_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the folder to write")
    parser.add_argument("--dictd", type=Path, default=DICTD, help="where gcide.dict.dz lies")
    parser.add_argument("--per-file", type=int, default=10_000, help="entries per JSONL file")
    args = parser.parse_args()
    dictionary, index = args.dictd / "gcide.dict.dz", args.dictd / "gcide.index"
    if not dictionary.is_file() or not index.is_file():
        sys.exit(f"error: no GCIDE in {args.dictd}; install it with: apt-get install dict-gcide")
    found, notice = entries(index, gzip.decompress(dictionary.read_bytes()))
    files = write(args.out, found, notice, args.per_file)
    characters = sum(len(text) for _, text in found)
    print(
        f"{len(found)} entries, {characters / 1e6:.1f} M characters, in {files} files: {args.out}"
    )


if __name__ == "__main__":
    main()
