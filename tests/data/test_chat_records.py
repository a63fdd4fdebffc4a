"""Reading chat and instruction records: formats, role aliases, bad rows, truncated arrays and
the split."""

import json

import pytest

from tuneforge.data.chat_records import read_conversations, split_by_hash
from tuneforge.errors import DataError

CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "Paris."},
]


def write_jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_messages_jsonl_reads_turns_and_says_its_format(tmp_path):
    records = read_conversations(write_jsonl(tmp_path / "a.jsonl", [{"messages": CHAT}]))
    assert records.format == "messages"
    assert records.conversations == [CHAT]


def test_sharegpt_aliases_become_the_three_roles(tmp_path):
    turns = [("system", "s"), ("human", "q"), ("gpt", "a"), ("user", "q2"), ("chatgpt", "a2")]
    turns += [("human", "q3"), ("bing", "a3"), ("human", "q4"), ("bard", "a4")]
    row = {"conversations": [{"from": f, "value": v} for f, v in turns]}
    records = read_conversations(write_jsonl(tmp_path / "s.jsonl", [row]))
    assert records.format == "sharegpt"
    roles = [turn["role"] for turn in records.conversations[0]]
    assert roles == ["system"] + ["user", "assistant"] * 4


def test_alpaca_with_renamed_output_and_optional_input(tmp_path):
    rows = [
        {"instruction": "Define cat", "response": "A small feline."},
        {"instruction": "Translate", "input": "chat", "response": "cat"},
        {"instruction": "No answer"},
    ]
    records = read_conversations(
        write_jsonl(tmp_path / "i.jsonl", rows), columns={"output": "response"}
    )
    assert records.format == "alpaca"
    assert records.conversations[1] == [
        {"role": "user", "content": "Translate\n\nchat"},
        {"role": "assistant", "content": "cat"},
    ]
    assert records.skipped == {"missing_output": 1}
    assert records.examples["missing_output"].startswith("row 3:")


def test_prompt_completion_with_a_system_field(tmp_path):
    row = {"prompt": "2+2?", "completion": "4", "system": "Maths."}
    records = read_conversations(write_jsonl(tmp_path / "p.jsonl", [row]))
    assert records.format == "prompt_completion"
    assert [t["role"] for t in records.conversations[0]] == ["system", "user", "assistant"]


BAD_ROWS = {
    "unknown_role": {"messages": [{"role": "tool", "content": "x"}, *CHAT[1:]]},
    "no_assistant_turn": {"messages": CHAT[:2]},
    "empty_content": {"messages": [CHAT[1], {"role": "assistant", "content": "  "}]},
    "same_role_twice": {"messages": [CHAT[1], CHAT[1], CHAT[2]]},
    "assistant_first": {"messages": [CHAT[0], CHAT[2], CHAT[1]]},
    "bad_json": '{"messages": [',
}


def test_bad_rows_are_skipped_and_counted_by_reason(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"messages": CHAT}, *BAD_ROWS.values()])
    records = read_conversations(path)
    assert records.conversations == [CHAT]
    assert records.skipped == dict.fromkeys(BAD_ROWS, 1)
    assert records.rows == 1 + len(BAD_ROWS)
    assert records.report()["skipped"] == dict(sorted(dict.fromkeys(BAD_ROWS, 1).items()))


@pytest.mark.parametrize("reason", list(BAD_ROWS))
def test_strict_stops_at_a_bad_row_with_one_line(tmp_path, reason):
    path = write_jsonl(tmp_path / "m.jsonl", [{"messages": CHAT}, BAD_ROWS[reason]])
    with pytest.raises(DataError) as caught:
        read_conversations(path, strict=True)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path} row 2: ")
    assert "data.strict=false" in message


def test_truncated_json_array_keeps_its_whole_records(tmp_path):
    text = json.dumps([{"messages": CHAT}] * 3)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 20])
    records = read_conversations(path)
    assert len(records.conversations) == 2
    assert records.skipped == {"truncated_json": 1}
    assert "after record 2" in records.examples["truncated_json"]
    with pytest.raises(DataError, match="complete the file"):
        read_conversations(path, strict=True)


def test_whole_json_array_reads_every_record(tmp_path):
    path = tmp_path / "all.json"
    path.write_text(json.dumps([{"messages": CHAT}] * 3, indent=2))
    records = read_conversations(path)
    assert len(records.conversations) == 3 and not records.skipped


def test_unknown_format_keys_and_columns_are_one_line_errors(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": "hi"}])
    with pytest.raises(DataError, match=r"set data\.format"):
        read_conversations(path)
    with pytest.raises(DataError, match=r"data\.columns has unknown field"):
        read_conversations(path, columns={"answer": "x"})
    with pytest.raises(DataError, match=r"data\.format='csv'"):
        read_conversations(path, format="csv")


def test_split_by_hash_is_seeded_stable_and_independent_of_other_rows():
    conversations = [
        [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]
        for i in range(400)
    ]
    train, val = split_by_hash(conversations, 0.25, seed=1)
    assert len(train) + len(val) == 400
    assert 60 < len(val) < 140
    first = conversations[:100]
    assert split_by_hash(first, 0.25, seed=1)[1] == [c for c in val if c in first]
    assert split_by_hash(conversations, 0.25, seed=2)[1] != val
    # pinned: SHA-256 of the content gives the same split on every machine and Python
    assert len(val) == 87
    assert [c[0]["content"] for c in val[:5]] == ["q13", "q15", "q18", "q27", "q28"]


def test_a_line_separator_inside_a_record_is_text_not_a_line_break(tmp_path):
    """json.dumps(ensure_ascii=False) writes U+2028 raw; only \\n ends a JSONL record."""
    text = "first line\u2028second\x1c line\x85"
    path = tmp_path / "chats.jsonl"
    record = {"instruction": "Repeat this.", "input": text, "output": text}
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    records = read_conversations(path, strict=True)
    assert records.conversations[0][1]["content"] == text


def test_prompts_need_no_reply_and_drop_a_last_one(tmp_path):
    path = tmp_path / "prompts.jsonl"
    rows = [
        {"instruction": "Define cat."},
        {"instruction": "Define dog.", "output": "A canine."},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows[:2]))
    records = read_conversations(path, prompts=True, strict=True)
    assert records.references == [None, "A canine."]
    assert records.conversations == [
        [{"role": "user", "content": "Define cat."}],
        [{"role": "user", "content": "Define dog."}],
    ]
    path.write_text(json.dumps(rows[2]) + "\n")
    assert read_conversations(path, prompts=True).conversations == [
        [{"role": "user", "content": "Hi"}]
    ]
