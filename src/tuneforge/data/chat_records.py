"""Chat and instruction records (JSON or JSONL files) as conversations of `{role, content}` turns.

Real chat data is messy: the ShareGPT dump names its speakers human, gpt, chatgpt, bing, bard,
user and system, holds empty replies and repeated speakers, and ships as a JSON array cut off in
the middle of a record. So every row is checked here, before any tokenizer sees it: a bad row is
skipped and counted by reason (with its first occurrence, to find it by), or, under `strict`, it
stops the run with one line naming the file, the row, the problem and the fix. A truncated JSON
array is read up to its last whole record, and what is left is counted, not silently lost.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.errors import DataError

Turn = dict[str, str]
Conversation = list[Turn]

FORMATS = ("messages", "sharegpt", "alpaca", "prompt_completion")
ROLES = {  # ShareGPT's speakers and the OpenAI roles, as the three roles chat templates know
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
}
COLUMNS = {  # each field a format reads, and its default key in a record
    "messages": "messages",
    "conversations": "conversations",
    "instruction": "instruction",
    "input": "input",
    "output": "output",
    "prompt": "prompt",
    "completion": "completion",
    "system": "system",
}
FIX = "fix or delete it, or set data.strict=false to skip such rows (counted)"


class BadRow(Exception):
    """One row that cannot become a conversation: `reason` counts it, `problem` describes it."""

    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(problem)
        self.reason, self.problem = reason, problem


@dataclass
class ChatRecords:
    """The conversations of one file, with what was skipped and why.

    Attributes:
        path: the file read.
        format: the format its rows were read as (one of FORMATS).
        conversations: the good rows, in file order.
        rows: rows found, good and bad (a truncated tail counts as one).
        skipped: rows skipped, by reason.
        examples: the first skipped row of each reason, as "row N: problem", to find it by.
        references: read as prompts, each conversation's reply that the file holds, or None.
    """

    path: str
    format: str
    conversations: list[Conversation] = field(default_factory=list)
    rows: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    references: list[str | None] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """Plain data for a data report: the file, its format and the row counts."""
        return {
            "file": self.path,
            "format": self.format,
            "rows": self.rows,
            "conversations": len(self.conversations),
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": dict(sorted(self.examples.items())),
        }


def read_conversations(
    path: str | Path,
    format: str = "auto",
    columns: dict[str, str] | None = None,
    strict: bool = False,
    prompts: bool = False,
) -> ChatRecords:
    """Read a JSON array or JSONL file of chat or instruction rows as conversations.

    Args:
        path: a .jsonl/.ndjson file (one record a line) or a .json file (an array of records).
        format: "auto" (decided from the file's first record) or one of FORMATS: OpenAI
            `messages` [{role, content}], ShareGPT `conversations` [{from, value}], Alpaca
            `instruction` + optional `input` + `output`, or `prompt` + `completion`. Turns of
            either chat format may use either key pair. An optional `system` field becomes a
            first system turn.
        columns: record keys for the fields in COLUMNS, where a file names them differently,
            e.g. {"output": "response"}.
        strict: stop at the first bad row instead of skipping and counting it.
        prompts: the rows are prompts to answer: a reply is optional, and a last one dropped.

    Raises:
        DataError: the file is missing or unreadable, its format cannot be told, an option is
            wrong, or (strict) a row is bad.
    """
    path = Path(path)
    keys = _columns(columns)
    if format != "auto" and format not in FORMATS:
        raise DataError(f"data.format='{format}' is not one of auto, {', '.join(FORMATS)}")
    rows, tail = _read_rows(path, strict)
    chosen = _detect(path, rows, keys) if format == "auto" else format
    records = ChatRecords(str(path), chosen)
    for number, row in rows:
        records.rows += 1
        try:
            if isinstance(row, BadRow):
                raise row
            conversation = _conversation(row, chosen, keys, prompts)
            if prompts:  # the reply, if any, is the reference an answer is scored against
                reply = conversation.pop()["content"] if _replied(conversation) else None
                records.references.append(reply)
            records.conversations.append(conversation)
        except BadRow as bad:
            if strict:
                raise DataError(f"{path} row {number}: {bad.problem}; {FIX}") from None
            records.skipped[bad.reason] += 1
            records.examples.setdefault(bad.reason, f"row {number}: {bad.problem}")
    if tail:
        records.rows += 1
        records.skipped["truncated_json"] += 1
        records.examples["truncated_json"] = tail
    return records


def split_by_hash(
    conversations: list[Conversation], val_fraction: float, seed: int = 0
) -> tuple[list[Conversation], list[Conversation]]:
    """Split into (train, val) by a seeded SHA-256 of each conversation's content.

    A conversation's side depends on it and the seed alone, not on the rows around it or on
    the machine (Python's hash() is salted per process): adding rows never moves old ones
    across, and duplicates land together, so no copy of a validation row trains. The share
    held out is val_fraction on average, not exactly.
    """
    train, val = [], []
    for conversation in conversations:
        text = json.dumps([seed, conversation], ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(text.encode("utf-8")).digest()
        (val if int.from_bytes(digest[:8], "big") < val_fraction * 2**64 else train).append(
            conversation
        )
    return train, val


def _columns(columns: dict[str, str] | None) -> dict[str, str]:
    unknown = sorted(set(columns or {}) - set(COLUMNS))
    if unknown:
        raise DataError(
            f"data.columns has unknown field(s) {', '.join(unknown)}; the fields are "
            + ", ".join(COLUMNS)
        )
    return COLUMNS | dict(columns or {})


def _read_rows(path: Path, strict: bool) -> tuple[list[tuple[int, Any]], str]:
    """(row number, record or BadRow) pairs, and a description of a truncated tail ("" if none).

    JSONL rows are numbered by line, JSON array rows from 1."""
    if not path.is_file():
        raise DataError(f"data.path '{path}' does not exist; point it at a JSON or JSONL file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as ex:
        raise DataError(f"{path} is not UTF-8 text ({ex.reason} at byte {ex.start})") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _jsonl_rows(text), ""
    rows, tail = _array_rows(text, path)
    if tail and strict:
        raise DataError(f"{path}: {tail}; complete the file, or set data.strict=false")
    return rows, tail


def _jsonl_rows(text: str) -> list[tuple[int, Any]]:
    """One record per line. Lines end at \n alone: JSON text may hold U+2028 and the other
    characters that str.splitlines() also breaks at (json.dumps(ensure_ascii=False) writes them)."""
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                rows.append((number, json.loads(line)))
            except json.JSONDecodeError as ex:
                rows.append((number, BadRow("bad_json", f"is not JSON ({ex.msg})")))
    return rows


def _array_rows(text: str, path: Path) -> tuple[list[tuple[int, Any]], str]:
    """A JSON array's records one by one, so that a file cut off mid-record keeps the rest."""
    decoder, start = json.JSONDecoder(), len(text) - len(text.lstrip())
    if not text.startswith("[", start):
        raise DataError(f"{path} is not a JSON array of records; write one, or a .jsonl file")
    rows, position = [], start + 1
    while True:
        position = _skip(text, position, ",")
        if text.startswith("]", position):
            return rows, ""
        try:
            record, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as ex:
            left = len(text) - position
            return rows, (
                f"the JSON array breaks after record {len(rows)} ({ex.msg}); "
                f"its last {left} characters were not read"
            )
        rows.append((len(rows) + 1, record))
        position = end


def _skip(text: str, position: int, separator: str) -> int:
    """The position after whitespace and at most one separator."""
    while position < len(text) and text[position].isspace():
        position += 1
    if text.startswith(separator, position):
        position += 1
        while position < len(text) and text[position].isspace():
            position += 1
    return position


def _detect(path: Path, rows: list[tuple[int, Any]], keys: dict[str, str]) -> str:
    """The format of the first record: the key it holds decides."""
    for _, row in rows:
        if isinstance(row, dict):
            if keys["messages"] in row:
                return "messages"
            if keys["conversations"] in row:
                return "sharegpt"
            if keys["instruction"] in row:
                return "alpaca"
            if keys["prompt"] in row:
                return "prompt_completion"
            found = ", ".join(sorted(map(str, row))[:8])
            raise DataError(
                f"{path}: cannot tell the format from the first record's keys ({found}); set "
                f"data.format to one of {', '.join(FORMATS)}, and data.columns if keys differ"
            )
    raise DataError(f"{path} holds no JSON object records; write one record per row")


def _conversation(
    row: Any, format: str, keys: dict[str, str], prompts: bool = False
) -> Conversation:
    """One row as checked turns, or BadRow. `prompts`: the row is a prompt to answer, so its
    reply is optional and dropped (the conversation ends with a user turn)."""
    if not isinstance(row, dict):
        raise BadRow("not_object", f"is a JSON {type(row).__name__}, not an object")
    if format in ("messages", "sharegpt"):
        key = keys[format if format == "messages" else "conversations"]
        turns = row.get(key)
        if not isinstance(turns, list):
            raise BadRow("missing_field", f"has no '{key}' list")
        conversation = [_turn(turn, number) for number, turn in enumerate(turns, start=1)]
    else:
        ask, answer = ("instruction", "output") if format == "alpaca" else ("prompt", "completion")
        for field_name in (ask,) if prompts else (ask, answer):
            if not isinstance(row.get(keys[field_name]), str):
                raise BadRow(
                    f"missing_{field_name}",
                    f"has no text '{keys[field_name]}' (name its key with "
                    f"data.columns.{field_name}=KEY)",
                )
        prompt = row[keys[ask]]
        extra = row.get(keys["input"]) if format == "alpaca" else None
        if isinstance(extra, str) and extra.strip():
            prompt = f"{prompt}\n\n{extra}"
        conversation = [{"role": "user", "content": prompt}]
        if isinstance(row.get(keys[answer]), str):  # always, but where prompts need none
            conversation.append({"role": "assistant", "content": row[keys[answer]]})
    system = row.get(keys["system"])
    has_system = bool(conversation) and conversation[0]["role"] == "system"
    if isinstance(system, str) and system.strip() and not has_system:
        conversation.insert(0, {"role": "system", "content": system})
    if prompts:
        _check_prompt(conversation[:-1] if _replied(conversation) else conversation)
    else:
        _check(conversation)
    return conversation


def _turn(turn: Any, number: int) -> Turn:
    if not isinstance(turn, dict):
        raise BadRow("bad_turn", f"turn {number} is not an object")
    role = turn.get("role", turn.get("from"))
    content = turn.get("content", turn.get("value"))
    name = ROLES.get(role.lower()) if isinstance(role, str) else None
    if name is None:
        raise BadRow(
            "unknown_role",
            f"turn {number} has role {role!r}; roles are {', '.join(sorted(ROLES))}",
        )
    if not isinstance(content, str):
        raise BadRow("empty_content", f"turn {number} ({name}) has no text content")
    return {"role": name, "content": content}


def _check_turns(conversation: Conversation) -> None:
    """Text in every turn, and speakers taking turns."""
    for number, turn in enumerate(conversation, start=1):
        if not turn["content"].strip():
            raise BadRow("empty_content", f"turn {number} ({turn['role']}) is empty")
        if number > 1 and turn["role"] == conversation[number - 2]["role"]:
            raise BadRow(
                "same_role_twice",
                f"turns {number - 1} and {number} are both {turn['role']} (merge them)",
            )


def _replied(conversation: Conversation) -> bool:
    return bool(conversation) and conversation[-1]["role"] == "assistant"


def _check_prompt(conversation: Conversation) -> None:
    """A prompt: checked turns ending with the user's."""
    _check_turns(conversation)
    if not conversation or conversation[-1]["role"] != "user":
        raise BadRow("no_user_turn", "has no user turn to answer")


def _check(conversation: Conversation) -> None:
    """The rules every chat template relies on: text in every turn, speakers taking turns, a
    user before the first reply, and at least one reply to train on."""
    _check_turns(conversation)
    roles = [turn["role"] for turn in conversation]
    if "assistant" not in roles:
        raise BadRow("no_assistant_turn", "has no assistant turn to train on")
    if "user" not in roles[: roles.index("assistant")]:
        raise BadRow("assistant_first", "has an assistant turn before any user turn")
