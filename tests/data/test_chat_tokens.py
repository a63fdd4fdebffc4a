"""Chat templates to ids and labels: assistant-only masks found by prefix diffs, end-of-turn
tokens trained although they are the pad token, length policies and the report."""

import numpy as np
import pytest

from tests.data._chat_tokenizer import LLAMA2, SMOLLM2, ZEPHYR, chat_tokenizer
from tuneforge.data.chat_tokens import IGNORE, chat_template, encode_conversations
from tuneforge.errors import DataError

SYSTEM = {"role": "system", "content": "Be brief."}
TURNS = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "Define cat."},
    {"role": "assistant", "content": "A small domesticated feline."},
]


@pytest.fixture(scope="module")
def smol():
    return chat_tokenizer()


def trained_text(tokenizer, example) -> str:
    kept = [
        i for i, label in zip(example.input_ids, example.labels, strict=True) if label != IGNORE
    ]
    return tokenizer.decode(kept)


def encode_one(tokenizer, conversation, **options):
    encoded = encode_conversations(tokenizer, [conversation], **options)
    assert len(encoded.examples) == 1, encoded.report()
    return encoded.examples[0]


def test_multi_turn_trains_exactly_the_replies_and_their_end_of_turn(smol):
    example = encode_one(smol, [SYSTEM, *TURNS])
    assert trained_text(smol, example) == (
        "The capital of France is Paris.<|im_end|>A small domesticated feline.<|im_end|>"
    )
    assert smol.pad_token_id == smol.convert_tokens_to_ids("<|im_end|>")
    # every end-of-turn that closes a reply trains, none that closes a system or user turn does
    ids, labels = example.input_ids, example.labels
    ends = np.flatnonzero(ids == smol.pad_token_id)
    assert len(ends) == 5  # system, user, reply, user, reply
    reply_ends = [e for e in ends if labels[e - 1] != IGNORE]
    assert len(reply_ends) == 2 and all(labels[e] == ids[e] for e in reply_ends)
    assert all(labels[e] == IGNORE for e in ends if e not in reply_ends)
    # the assistant header and the newline after each end-of-turn are prompt
    header = smol.encode("<|im_start|>assistant\n")
    start = next(i for i in range(len(ids)) if ids[i : i + len(header)].tolist() == header)
    assert (labels[: start + len(header)] == IGNORE).all()
    assert labels[start + len(header)] != IGNORE


def test_labels_equal_ids_where_trained_and_the_text_is_the_template_rendering(smol):
    example = encode_one(smol, TURNS)
    mask = example.labels != IGNORE
    assert (example.labels[mask] == example.input_ids[mask]).all()
    assert smol.decode(example.input_ids) == smol.apply_chat_template(TURNS, tokenize=False)


def test_last_assistant_and_all(smol):
    last = encode_one(smol, TURNS, train_on="last_assistant")
    assert trained_text(smol, last) == "A small domesticated feline.<|im_end|>"
    everything = encode_one(smol, TURNS, train_on="all")
    assert (everything.labels[1:] == everything.input_ids[1:]).all()
    assert everything.labels[0] == IGNORE  # nothing before it to predict it from


def test_zephyr_shape_trains_the_newline_the_generation_prompt_leaves_out():
    tokenizer = chat_tokenizer(ZEPHYR, eos="</s>")
    example = encode_one(tokenizer, [SYSTEM, *TURNS])
    assert trained_text(tokenizer, example) == (
        "\nThe capital of France is Paris.</s>\nA small domesticated feline.</s>"
    )


def test_llama2_shape_with_a_system_prompt_folded_into_the_first_turn():
    tokenizer = chat_tokenizer(LLAMA2, eos="</s>")
    example = encode_one(tokenizer, [SYSTEM, *TURNS])
    assert trained_text(tokenizer, example) == (
        " The capital of France is Paris. </s> A small domesticated feline. </s>"
    )


def test_a_conversation_the_template_refuses_is_dropped_and_counted():
    tokenizer = chat_tokenizer(LLAMA2, eos="</s>")
    late_system = [TURNS[0], TURNS[1], SYSTEM, *TURNS[2:]]
    encoded = encode_conversations(tokenizer, [late_system, TURNS])
    assert len(encoded.examples) == 1
    assert encoded.dropped == {"template_refused": 1}
    assert "must alternate" in encoded.examples_dropped["template_refused"]


def test_a_template_whose_earlier_turns_change_fails_the_prefix_check_in_one_line(smol):
    unstable = (
        "{% for m in messages %}{% if loop.last %}[last]{% endif %}<|im_start|>{{ m['role'] }}\n"
        "{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    with pytest.raises(DataError) as caught:
        encode_conversations(smol, [TURNS], template=unstable)
    message = str(caught.value)
    assert message.startswith("data.chat_template: rendered up to assistant turn 2")
    assert "prefix diff" in message and "\n" not in message


def test_an_explicit_template_overrides_and_a_missing_one_names_the_key(smol):
    example = encode_one(smol, TURNS, template=ZEPHYR)
    assert smol.decode(example.input_ids).startswith("<|user|>\n")
    bare = chat_tokenizer(template=None)
    with pytest.raises(DataError, match=r"set data\.chat_template"):
        chat_template(bare)
    with pytest.raises(DataError, match=r"data\.chat_template is not a valid Jinja"):
        encode_conversations(smol, [TURNS], template="{% for m in messages %}")


def test_length_policies_are_counted_or_stop(smol):
    short = [TURNS[0], {"role": "assistant", "content": "Paris."}]
    length = len(encode_one(smol, TURNS).input_ids)
    limit = len(encode_one(smol, short).input_ids)
    dropped = encode_conversations(smol, [TURNS, short], max_length=limit)
    assert len(dropped.examples) == 1 and dropped.dropped == {"too_long": 1}
    cut = encode_conversations(smol, [TURNS, short], max_length=limit, length_policy="truncate")
    assert [len(e) for e in cut.examples] == [limit, limit]
    assert cut.truncated_rows == 1 and cut.truncated_tokens == length - limit
    with pytest.raises(
        DataError, match=f"conversation 1 has {length} tokens, over data.max_length"
    ):
        encode_conversations(smol, [TURNS], max_length=limit, length_policy="error")
    # cut before the reply starts: nothing left to train, dropped and counted
    prompt = len(smol.apply_chat_template(TURNS[:1], add_generation_prompt=True)["input_ids"])
    none = encode_conversations(smol, [short], max_length=prompt - 1, length_policy="truncate")
    assert not none.examples and none.dropped == {"no_trained_token": 1}


def test_report_counts_rows_tokens_and_the_trained_share(smol):
    encoded = encode_conversations(smol, [TURNS, TURNS[:2], TURNS[:2]])
    report = encoded.report()
    lengths = sorted(len(e) for e in encoded.examples)
    trained = sum(int((e.labels != IGNORE).sum()) for e in encoded.examples)
    assert report["rows"] == 3
    assert report["tokens_per_example"] == {
        "min": lengths[0],
        "median": float(lengths[1]),
        "max": lengths[2],
    }
    assert report["trained_tokens"] == trained
    assert report["trained_share"] == pytest.approx(trained / sum(lengths))
    assert report["truncated"] == {"rows": 0, "tokens": 0} and report["dropped"] == {}


def test_options_are_checked(smol):
    with pytest.raises(DataError, match=r"data\.train_on='prompt'"):
        encode_conversations(smol, [TURNS], train_on="prompt")
    with pytest.raises(DataError, match=r"data\.length_policy='cut'"):
        encode_conversations(smol, [TURNS], length_policy="cut")


def test_stop_ids_are_the_tokenizers_eos_first_then_the_configured_ones_once():
    from tuneforge.data.chat_tokens import stop_ids

    tokenizer = chat_tokenizer()  # eos (and pad) is <|im_end|>
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    text_end = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert stop_ids(tokenizer) == [end_of_turn]
    assert stop_ids(tokenizer, [text_end, end_of_turn], None, text_end) == [end_of_turn, text_end]


def test_a_prompt_renders_as_training_rendered_it_up_to_the_reply():
    from tuneforge.data.chat_tokens import render_prompt

    tokenizer = chat_tokenizer()
    turns = [{"role": "user", "content": "Capital of France?"}]
    reply = {"role": "assistant", "content": "Paris."}
    prompt = render_prompt(tokenizer, turns, SMOLLM2)
    assert prompt.endswith(
        "<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n"
    )
    full = tokenizer.apply_chat_template([*turns, reply], chat_template=SMOLLM2, tokenize=False)
    assert full.startswith(prompt)
