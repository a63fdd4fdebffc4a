"""A fine-tuned causal LM for Hugging Face tools: a merged model folder, or a peft adapter.

- `write_hf_folder`: the LoRA updates merged into the base weights (float32), saved as
  transformers saves a model, with the tokenizer, the chat template the run trained with and a
  `generation_config.json` that stops on the end-of-turn token. `AutoModelForCausalLM` and
  `AutoTokenizer.apply_chat_template` work on it unchanged. It is loaded back and its logits
  compared with the model's before the folder is kept.
- `write_adapter`: `adapter_config.json` and `adapter_model.safetensors` as peft writes them, so
  `PeftModel.from_pretrained(base, folder)` gives the fine-tuned model on the base it names.

Files are written into a hidden folder beside the destination and moved in when complete, so an
export that fails leaves no folder that looks finished.
"""

import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from tuneforge.data.chat_tokens import stop_ids
from tuneforge.errors import CheckpointError, ConfigError
from tuneforge.finetune import merge_lora

log = logging.getLogger(__name__)

LOGITS_ATOL = 1e-4  # float32 merge and reload: other kernels, other summation orders
ADAPTER_NAME = "default"  # peft's name for the one adapter tuneforge adds


@contextmanager
def _complete_files(out: Path) -> Iterator[Path]:
    """A scratch folder in `out` whose files are moved into `out` once the block succeeds."""
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=out))
    try:
        yield scratch
        for file in sorted(scratch.iterdir()):
            file.replace(out / file.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _probe(model: Any) -> torch.Tensor:
    """A fixed batch of token ids to compare logits on: 2 rows of 16, within the vocabulary."""
    vocab = model.config.vocab_size
    return torch.randint(vocab, (2, 16), generator=torch.Generator().manual_seed(0))


def _check_logits(expected: torch.Tensor, load: Callable[[], Any], ids: torch.Tensor) -> float:
    """The largest logit difference between `expected` and the model `load()` returns.

    Raises:
        CheckpointError: when it is over LOGITS_ATOL.
    """
    with torch.no_grad():
        got = load().eval()(input_ids=ids).logits
    difference = float((got - expected).abs().max())
    if difference > LOGITS_ATOL:
        raise CheckpointError(
            f"the exported model's logits differ from the trained model's by {difference:.2e} "
            f"(allowed {LOGITS_ATOL:.0e}); nothing was kept. Export with format=safetensors"
        )
    return difference


def _hf_model(model: Any) -> Any:
    hf_model = getattr(model, "hf_model", None)
    if hf_model is None:
        raise ConfigError(
            f"this export is for pretrained causal LMs (model=hf_causal_lm), not a "
            f"{type(model).__name__}; use format=safetensors"
        )
    return hf_model


def _generation_config(hf_model: Any, tokenizer: Any) -> Any:
    """The model's generation config, stopping on the end-of-turn token as well as its own eos,
    and with the pad token out of the stop list where they differ."""
    config = hf_model.generation_config
    stops = stop_ids(tokenizer, config.eos_token_id, hf_model.config.eos_token_id)
    config.eos_token_id = stops[0] if len(stops) == 1 else stops
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id
    return config


def write_hf_folder(model: Any, template: str | None, out: Path) -> float:
    """The model, its LoRA merged, as a Hugging Face folder in `out`; the largest logit
    difference of the folder loaded back."""
    from transformers import AutoModelForCausalLM

    hf_model = _hf_model(model)
    tokenizer = model.tokenizer
    ids = _probe(hf_model)
    with torch.no_grad():
        expected = hf_model.eval()(input_ids=ids).logits  # with the adapters as they trained
    merged = merge_lora(model)
    if merged:
        log.info("LoRA adapters of %d layers merged into their weights", len(merged))
    if template is not None:
        tokenizer.chat_template = template
    hf_model.generation_config = _generation_config(hf_model, tokenizer)
    with _complete_files(out) as scratch:
        hf_model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        return _check_logits(
            expected,
            lambda: AutoModelForCausalLM.from_pretrained(
                scratch, local_files_only=True, trust_remote_code=False, dtype=torch.float32
            ),
            ids,
        )


def adapter_weights(model: Any) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The LoRA tensors under peft's saved names, and the adapted modules' names, both relative
    to the Hugging Face model (`base_model.model.` + its own names)."""
    weights, targets = {}, set()
    for name, value in model.hf_model.named_parameters():
        parts = name.split(".")
        if ADAPTER_NAME not in parts or not any(p.startswith("lora_") for p in parts):
            continue
        at = parts.index(ADAPTER_NAME)
        module = ".".join(p for p in parts[: at - 1])
        targets.add(module)
        saved = ".".join(parts[:at] + parts[at + 1 :])  # peft drops the adapter's name
        weights[f"base_model.model.{saved}"] = value.detach().contiguous().clone()
    return weights, sorted(targets)


def write_adapter(model: Any, finetune: dict[str, Any], out: Path) -> float:
    """The LoRA adapter as peft saves it, in `out`; the largest logit difference of
    `PeftModel.from_pretrained(base, out)` from the trained model.

    Raises:
        ConfigError: for a model fine-tuned without LoRA.
    """
    from peft import LoraConfig, PeftModel
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    hf_model = _hf_model(model)
    weights, targets = adapter_weights(model)
    if not weights:
        raise ConfigError(
            "format=adapter writes LoRA adapters, and this run trained none (finetune.strategy "
            "is not lora); use format=hf"
        )
    config = LoraConfig(
        r=int(finetune.get("lora_rank") or 8),
        lora_alpha=float(finetune.get("lora_alpha") or 16.0),
        lora_dropout=float(finetune.get("lora_dropout") or 0.0),
        target_modules=targets,
        task_type="CAUSAL_LM",
        base_model_name_or_path=str(model.source),
    )
    ids = _probe(hf_model)
    with torch.no_grad():
        expected = hf_model.eval()(input_ids=ids).logits

    def reload() -> Any:
        base = AutoModelForCausalLM.from_pretrained(
            model.source, local_files_only=True, trust_remote_code=False, dtype=torch.float32
        )
        return PeftModel.from_pretrained(base, scratch)

    with _complete_files(out) as scratch:
        save_file(weights, str(scratch / "adapter_model.safetensors"), {"format": "pt"})
        config.save_pretrained(scratch)
        (scratch / "tuneforge_base.json").write_text(
            json.dumps({"source": str(model.source), "sha256": model.weights_sha256}, indent=2)
        )
        return _check_logits(expected, reload, ids)
