"""Fine-tuning a pretrained causal LM end to end, on a tiny random Llama folder: LoRA SFT on chat
data, checkpoints that keep only the adapter, every verb that reads them, the exports that
transformers and peft load to the same logits, and resume after kill -9."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from ..conftest import run_tuneforge
from ..e2e.test_resume import _kill, _run_until_paused, _start
from ._tiny import FACTS, save_model_folder

pytestmark = pytest.mark.slow

QUICK = ["trainer.max_epochs=2", "callbacks.progress_bar.refresh_rate=0", "data.val_fraction=0.4"]


def chat_args(model: Path, chats: Path) -> list[str]:
    return ["data=chat", f"data.path={chats}", f"model.path={model}", "data.batch_size=4"]


def train(cwd: Path, model: Path, chats: Path, *extra: str, name: str = "run") -> Path:
    run_dir = cwd / name
    args = [*chat_args(model, chats), *QUICK, *extra, f"hydra.run.dir={run_dir}"]
    result = run_tuneforge("train", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def lora_run(llama_folder, chats, tmp_path_factory) -> Path:
    return train(tmp_path_factory.mktemp("lora"), llama_folder, chats, "optimizer.lr=0.01")


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_a_lora_run_keeps_only_the_adapter_and_the_bases_hash(lora_run, llama_folder):
    checkpoint = torch.load(lora_run / "checkpoints" / "best.ckpt", weights_only=True)
    names = list(checkpoint["state_dict"])
    assert names and all(".lora_A." in n or ".lora_B." in n for n in names), names
    base = checkpoint["tuneforge_base"]
    assert base["source"] == str(llama_folder) and len(base["sha256"]) == 64
    assert "model.hf_model.lm_head.weight" in base["keys"]  # the tied output layer too
    report = json.loads((lora_run / "data_report.json").read_text())
    assert report["train"]["rows"] + report["val"]["rows"] == 24
    assert 0 < report["train"]["trained_share"] < 0.5  # the replies, not the prompts
    metrics = json.loads((lora_run / "metrics.json").read_text())
    assert metrics["test/perplexity"] == pytest.approx(2.718281828 ** metrics["test/loss"], 1e-4)


def test_each_validation_shows_replies_beside_the_datas_in_tensorboard(lora_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(lora_run / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    shown = events.Tensors("samples/replies/text_summary")
    assert len(shown) == 2  # one per validation, of two epochs
    text = shown[-1].tensor_proto.string_val[0].decode()
    assert text.count("**user:** What is the capital of") == 3
    assert text.count("**data:** The capital of") == 3


def test_eval_scores_what_training_tested(lora_run, tmp_path):
    metrics = json.loads((lora_run / "metrics.json").read_text())
    result = run_tuneforge("eval", f"ckpt_path={lora_run}", "hydra.run.dir=eval", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    scored = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert scored["test/loss"] == pytest.approx(metrics["test/loss"], abs=1e-5)


def test_freeze_trains_the_layers_after_the_first_groups_and_keeps_only_those(
    llama_folder, chats, tmp_path
):
    run_dir = train(
        tmp_path,
        llama_folder,
        chats,
        "finetune=freeze",
        "finetune.freeze_groups=2",
        "trainer.max_epochs=1",
    )
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    kept = set(checkpoint["state_dict"])
    # groups: the embedding, layer 0, layer 1, then the final norm (the output layer is tied)
    assert kept and all(".layers.1." in name or ".model.norm." in name for name in kept), kept
    assert any(".layers.1.mlp." in name for name in kept)
    frozen = checkpoint["tuneforge_base"]["keys"]
    assert any(".layers.0." in name for name in frozen)
    assert "model.hf_model.model.embed_tokens.weight" in frozen


def test_a_changed_base_is_refused_by_every_verb(llama_folder, chats, tmp_path):
    base = shutil.copytree(llama_folder, tmp_path / "base")
    run_dir = train(tmp_path, base, chats, "trainer.max_epochs=1")
    save_model_folder(tmp_path / "other", seed=1)
    shutil.copy(tmp_path / "other" / "model.safetensors", base / "model.safetensors")
    for verb in ("eval", "generate", "export"):
        result = run_tuneforge(verb, f"ckpt_path={run_dir}", f"hydra.run.dir={verb}", cwd=tmp_path)
        assert result.returncode == 4, result.stderr[-2000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "point model.path at the base it was trained on" in errors[0]
        assert not (tmp_path / verb / "metrics.json").exists()


def test_export_hf_loads_in_transformers_with_the_same_logits(lora_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    import tuneforge

    result = run_tuneforge(
        "export", f"ckpt_path={lora_run}", "format=hf", "hydra.run.dir=hf", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "hf"
    exported = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    trained = tuneforge.load(lora_run)
    ids = torch.tensor([[5, 17, 42, 99, 3, 250], [8, 8, 2, 60, 4, 301]])
    torch.testing.assert_close(_logits(exported, ids), trained(ids), atol=1e-4, rtol=0)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")
    stops = GenerationConfig.from_pretrained(folder).eos_token_id
    end_of_turn = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert end_of_turn == stops or end_of_turn in stops


def test_export_adapter_loads_in_peft_with_the_same_logits(lora_run, llama_folder, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    import tuneforge

    result = run_tuneforge(
        "export", f"ckpt_path={lora_run}", "format=adapter", "hydra.run.dir=adapter", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folder = tmp_path / "adapter"
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {
        p.name for p in folder.iterdir()
    }
    base = AutoModelForCausalLM.from_pretrained(llama_folder, dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, folder).eval()
    ids = torch.tensor([[5, 17, 42, 99, 3, 250]])
    trained = tuneforge.load(lora_run)
    torch.testing.assert_close(_logits(adapted, ids), trained(ids), atol=1e-5, rtol=0)
    untouched = AutoModelForCausalLM.from_pretrained(llama_folder, dtype=torch.float32).eval()
    assert (_logits(untouched, ids) - trained(ids)).abs().max() > 1e-3  # the adapter matters


def test_generate_chat_and_predict_answer_through_the_template(lora_run, chats, tmp_path):
    question = f"What is the capital of {FACTS[0][0]}?"
    generated = run_tuneforge(
        "generate",
        f"ckpt_path={lora_run}",
        f"prompt={question}",
        "max_new_tokens=6",
        "temperature=0",
        "hydra.run.dir=generate",
        cwd=tmp_path,
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    reply = (tmp_path / "generate" / "samples.txt").read_text().strip()
    assert reply and reply in generated.stdout
    predicted = run_tuneforge(
        "predict",
        f"ckpt_path={lora_run}",
        f"predict.input={chats}",
        "predict.max_new_tokens=6",
        "hydra.run.dir=predict",
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "predict" / "predictions.jsonl").open()]
    assert len(rows) == 24
    first = rows[0]["messages"]
    assert [turn["role"] for turn in first] == ["user", "assistant"]
    assert first[0]["content"] == question
    assert first[1]["content"] == reply  # greedy: the same reply, batched or alone
    scores = json.loads((tmp_path / "predict" / "metrics.json").read_text())
    assert scores["rows"] == scores["scored"] == 24  # every row holds its reference reply
    assert 0 <= scores["exact_match"] <= 1 and 0 <= scores["stopped"] <= 1


def test_the_python_api_answers_prompts_as_predict_does(lora_run, tmp_path):
    import tuneforge

    replies = tuneforge.predict(
        lora_run, ["What is the capital of France?", [{"role": "user", "content": "Hi"}]]
    )
    assert len(replies) == 2 and all(isinstance(reply, str) for reply in replies)
    again = tuneforge.predict(lora_run, ["What is the capital of France?"])
    assert again[0] == replies[0]  # greedy, batched or alone


def test_chat_keeps_the_conversation_and_obeys_its_commands(lora_run, tmp_path):
    import subprocess

    from ..conftest import TUNEFORGE

    typed = (
        "Hello\n/system Answer in one word.\nWhat is the capital of Italy?\nAnd of Spain?\n/exit\n"
    )
    result = subprocess.run(
        [str(TUNEFORGE), "chat", f"ckpt_path={lora_run}", "max_new_tokens=4", "hydra.run.dir=chat"],
        input=typed,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(new conversation)" in result.stdout
    messages = json.loads((tmp_path / "chat" / "conversation.json").read_text())["messages"]
    roles = [turn["role"] for turn in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "Answer in one word."
    assert messages[3]["content"] == "And of Spain?"


def test_a_killed_lora_run_resumes_to_the_same_adapter(llama_folder, chats, tmp_path):
    args = [*chat_args(llama_folder, chats), "data.val_fraction=0.4"]
    reference = _start(tmp_path / "reference", *args, log=tmp_path / "reference.err")
    assert reference.wait() == 0, (tmp_path / "reference.err").read_text()[-3000:]
    reference.stdout.close()
    run_dir = tmp_path / "killed"
    _kill(_run_until_paused(run_dir, tmp_path / "killed.err", *args, step=3))
    resumed = _start(run_dir, *args, "resume=auto", log=tmp_path / "resumed.err")
    assert resumed.wait() == 0, (tmp_path / "resumed.err").read_text()[-3000:]
    resumed.stdout.close()
    final = [
        torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for folder in (tmp_path / "reference", run_dir)
    ]
    assert final[0].keys() == final[1].keys()
    for name in final[0]:
        assert torch.equal(final[0][name], final[1][name]), name
