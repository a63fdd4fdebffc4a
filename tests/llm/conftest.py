"""A tiny Llama folder and chat data, shared by the tests of fine-tuning causal LMs."""

from pathlib import Path

import pytest

from ._tiny import save_model_folder, write_chats


@pytest.fixture(scope="session")
def llama_folder(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("tiny_llama"))


@pytest.fixture(scope="session")
def chats(tmp_path_factory) -> Path:
    return write_chats(tmp_path_factory.mktemp("chats") / "chats.jsonl")
