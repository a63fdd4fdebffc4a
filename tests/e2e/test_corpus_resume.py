"""`tuneforge train data=text_corpus`: a run killed with `kill -9` mid-epoch and resumed with
resume=auto ends bit for bit where an uninterrupted run ends, with the corpus's tokenizer in its
checkpoint and run folder; bad corpora and tokenizers too large for the model are one line."""

import json
import random
from pathlib import Path

import pytest
import torch

from tuneforge.data import TextCorpusDataModule
from tuneforge.models import Llama
from tuneforge.models.llama_hf import hf_llama_config

from ..conftest import SHAKESPEARE, run_tuneforge
from .test_hostile_checkpoints import forge
from .test_resume import QUICK, _finals, _kill, _run_until_paused

pytestmark = pytest.mark.slow

SETTINGS = {"vocab_size": 300, "tokenizer_sample_mb": 0.05, "num_proc": 1}
CORPUS = [f"data.{key}={value}" for key, value in SETTINGS.items()]
CORPUS += ["data=text_corpus", "data.block_size=32", "data.batch_size=4", "model=llama_tiny"]
CORPUS += ["model.dropout=0.1"]  # dropout draws random numbers, which a resumed run restores


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Shakespeare's speeches as JSONL documents, tokenized once here so that the runs, which
    start at the same time, read one cache."""
    folder = tmp_path_factory.mktemp("corpus")
    speeches = [s for s in SHAKESPEARE.read_text(encoding="utf-8")[:60_000].split("\n\n") if s]
    lines = [json.dumps({"text": speech}) for speech in speeches]
    (folder / "speeches.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    TextCorpusDataModule(path=str(folder), **SETTINGS).setup()
    return folder


@pytest.fixture(scope="module")
def killed_and_resumed(corpus, tmp_path_factory) -> dict:
    """A run killed mid-epoch and resumed in its folder, and the same run uninterrupted. Only
    the killed run needs a process of its own; the others run in the tests' preloaded forks."""
    root = tmp_path_factory.mktemp("corpus_resume")
    seed = random.randrange(10**6)
    step = random.Random(seed).choice([s for s in range(3, 15) if s % 5])  # of 15, 5 an epoch
    args = [*QUICK, *CORPUS, f"data.path={corpus}"]
    run_dir = root / "killed"
    _kill(
        _run_until_paused(run_dir, root / "killed.err", *CORPUS, f"data.path={corpus}", step=step)
    )
    for folder, extra in ((run_dir, ["resume=auto"]), (root / "uninterrupted", [])):
        result = run_tuneforge("train", *args, *extra, f"hydra.run.dir={folder}", cwd=root)
        assert result.returncode == 0, f"step {step}: {result.stderr[-3000:]}"
    return {"step": f"killed at step {step} (seed {seed})", "run_dir": run_dir, "root": root}


def test_a_run_killed_mid_epoch_resumes_bit_for_bit(killed_and_resumed):
    run = killed_and_resumed
    metrics, weights, curves = _finals(run["run_dir"])
    ref_metrics, ref_weights, ref_curves = _finals(run["root"] / "uninterrupted")
    assert metrics == ref_metrics, run["step"]
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights), run["step"]
    assert curves == ref_curves, run["step"]


def test_the_corpus_tokenizer_travels_with_the_checkpoint_and_the_run_folder(
    killed_and_resumed, corpus
):
    (cache,) = (corpus / ".tuneforge-cache").glob("corpus-*")
    tokenizer = (cache / "tokenizer.json").read_text()
    run_dir = killed_and_resumed["run_dir"]
    assert (run_dir / "tokenizer.json").read_text() == tokenizer
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["TextCorpusDataModule"]["tokenizer"] == tokenizer
    assert checkpoint["tuneforge"]["data_spec"]["vocab_size"] == 300
    # eval rebuilds the data with a cache folder of its own, and reads the run's shards
    last = run_dir / "checkpoints" / "last.ckpt"
    result = run_tuneforge("eval", f"ckpt_path={last}", cwd=killed_and_resumed["root"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Reading the tokenized corpus {cache}" in result.stderr
    assert "Tokenizing" not in result.stderr


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_folder_without_text_and_a_changed_shard_are_one_line_each(corpus, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("no text to read")
    result = run_tuneforge("train", *CORPUS, f"data.path={empty}", cwd=tmp_path)
    assert result.returncode == 3
    assert _errors(result) == [
        f"error: data.path={empty}: the folder holds no .txt, .jsonl, .parquet file to read; "
        "point it at a folder or glob of such files"
    ]
    changed = tmp_path / "corpus"
    changed.mkdir()
    (changed / "speeches.jsonl").write_bytes((corpus / "speeches.jsonl").read_bytes())
    TextCorpusDataModule(path=str(changed), **SETTINGS).setup()
    (shard,) = (changed / ".tuneforge-cache").glob("corpus-*/shard-*.bin")
    shard.write_bytes(shard.read_bytes()[::-1])
    result = run_tuneforge("train", *CORPUS, f"data.path={changed}", cwd=tmp_path)
    assert result.returncode == 3
    assert _errors(result) == [
        f"error: data: the token shard '{shard}' changed after it was written (its size or "
        f"digest differs from index.json's); delete the folder '{shard.parent}' and run again "
        "to tokenize the corpus anew"
    ]


def test_a_tokenizer_larger_than_the_models_vocabulary_is_refused(corpus, tmp_path):
    """A Llama sized by a Hugging Face config.json has its own vocabulary, here 256 ids: the
    corpus's 300-token BPE does not fit it."""
    model = Llama(256, 32, n_layer=1, n_head=2, n_kv_head=1, n_embd=16, intermediate_size=32)
    (tmp_path / "config.json").write_text(json.dumps(hf_llama_config(model)))
    args = [*CORPUS, f"data.path={corpus}", f"model.hf_config={tmp_path}"]
    result = run_tuneforge("train", *args, cwd=tmp_path)
    assert result.returncode == 2
    (error,) = _errors(result)
    assert "the data's tokenizer has 300 ids, more than the 256 of hf_config=" in error


def test_an_hf_export_of_the_llama_stops_generating_at_the_corpus_end_of_document(
    killed_and_resumed, tmp_path
):
    """format=hf names the id ending every document as transformers' eos, in the model's config,
    its generation config and the tokenizer's; a checkpoint whose stored id is outside the
    vocabulary is refused in one line."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    last = killed_and_resumed["run_dir"] / "checkpoints" / "last.ckpt"
    result = run_tuneforge("export", f"ckpt_path={last}", "format=hf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = (tmp_path / "outputs" / "export").iterdir()
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == eos
    assert model.config.eos_token_id == model.generation_config.eos_token_id == eos
    assert model.config.bos_token_id is None  # the corpus starts no document with a token
    prompt = tokenizer("ROMEO:", return_tensors="pt").input_ids
    others = [i for i in range(model.config.vocab_size) if i != eos]
    with torch.no_grad():  # the model made to say eos first: generation ends right there
        out = model.generate(prompt, max_new_tokens=8, do_sample=False, suppress_tokens=others)
    assert out[0, prompt.shape[1] :].tolist() == [eos]

    forged = forge(
        last, tmp_path / "forged.ckpt", lambda c: c["tuneforge"]["data_spec"].update(eos_id=300)
    )
    result = run_tuneforge("export", f"ckpt_path={forged}", "format=hf", cwd=tmp_path)
    assert result.returncode == 4
    (error,) = _errors(result)
    assert "data_spec.eos_id=300 is outside the vocabulary of 300" in error
