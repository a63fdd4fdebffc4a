"""`tuneforge export ckpt_path=PATH format=safetensors|hf|onnx|torchscript`: the trained model
for other tools.

A model fine-tuned with LoRA is exported with its adapters merged into the base weights (peft's
merge, layer by layer), so every format holds a plain model of the architecture it was built as.

- `safetensors`: `model.safetensors`, the model's weights under its own names (so
  `finetune.checkpoint` loads them back, strictly), beside the resolved training `config.yaml`.
- `hf`: a GPT as a Hugging Face GPT-2 folder that `transformers.GPT2LMHeadModel.from_pretrained`
  reads, a Llama as one that `LlamaForCausalLM.from_pretrained` reads, both with the token that
  ended every training document (data=text_corpus) as their eos, so `generate` stops at it; a
  pretrained causal LM (`model=hf_causal_lm`) as a merged folder of its own architecture, with
  its tokenizer, chat template and generation config (run/llm_export.py).
- `adapter`: a causal LM's LoRA adapter as peft writes it, for `PeftModel.from_pretrained`.
- `onnx`: `model.onnx` from torch's exporter (through torch.export; needs `pip install
  'tuneforge[onnx]'`), input `input`, output `output`, any batch size and, for token ids, any
  length up to the model's longest. Models that torch.export cannot capture (the LSTM, whose
  packing depends on the data) are refused with a line that says so.
- `torchscript`: `model.torchscript.pt` from `torch.jit.trace`, for libtorch and mobile runtimes.
  TorchScript is deprecated since torch 2.5 (torch.export replaces it; ONNX is the portable
  format) but still works.

Both `onnx` and `torchscript` are traced on an example input built from the data facts in the
checkpoint, then run on another batch and compared with the model before they are kept. The
tokenizer goes beside any export where the `tokenizers` library can read it (byte-level BPE); a
character vocabulary stays tuneforge's.
"""

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tuneforge.atomic_files import atomic_path, write_atomic
from tuneforge.checkpoint_format import CHECKPOINT_KEY
from tuneforge.errors import ConfigError
from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint, stored_config
from tuneforge.run.files import write_json
from tuneforge.run.from_checkpoint import (
    stored_chat_template,
    stored_tokenizer,
    trained_model,
    trust_flag,
)

log = logging.getLogger(__name__)

FORMATS = ("safetensors", "hf", "adapter", "onnx", "torchscript")


def _write_tokenizer(
    tokenizer_json: str | None, out: Path, for_hf: bool, eos_id: int | None
) -> None:
    """The tokenizer beside the export; for `hf`, a tokenizer_config.json naming the token
    that ends each document (`eos_id`'s text, where the data told it)."""
    if tokenizer_json is None:
        return
    if json.loads(tokenizer_json).get("type") == "char":
        # ours, not the tokenizers library's: a Hugging Face loader must not pick it up
        write_atomic(out / "tuneforge_tokenizer.json", lambda handle: handle.write(tokenizer_json))
        return
    write_atomic(out / "tokenizer.json", lambda handle: handle.write(tokenizer_json))
    if for_hf:
        settings = {"tokenizer_class": "PreTrainedTokenizerFast"}
        if eos_id is not None:  # check_stored_data made sure the tokenizer holds it
            from tuneforge.data.tokenizers import tokenizer_from_json

            tokenizer = tokenizer_from_json(tokenizer_json).tokenizer
            settings["eos_token"] = tokenizer.id_to_token(eos_id)
        write_json(out / "tokenizer_config.json", settings)


def _export_safetensors(model: Any, checkpoint: dict[str, Any], out: Path) -> None:
    from safetensors.torch import save_model

    with atomic_path(out / "model.safetensors") as tmp:
        save_model(model, str(tmp))  # keeps one name of tied weights
    config = OmegaConf.to_yaml(stored_config(checkpoint))
    write_atomic(out / "config.yaml", lambda handle: handle.write(config))


def _export_hf(model: Any, out: Path, eos_id: int | None = None) -> None:
    """config.json and model.safetensors; with the data's end-of-document id (`eos_id`, None
    for data that tells none, and for checkpoints older than it), config.json's
    `eos_token_id` and a generation_config.json with it, so that `generate` stops there. There
    is no `bos_token_id`: the data starts no document with a token of its own."""
    from safetensors.torch import save_file

    from tuneforge.models import GPT, Llama
    from tuneforge.models.gpt_hf import hf_gpt2_config, hf_gpt2_state_dict
    from tuneforge.models.llama_hf import hf_llama_config, hf_llama_state_dict

    if isinstance(model, GPT):
        state, config = hf_gpt2_state_dict(model), hf_gpt2_config(model)
    elif isinstance(model, Llama):
        state, config = hf_llama_state_dict(model), hf_llama_config(model)
    else:
        raise ConfigError(
            f"format=hf exports GPT models (as GPT-2) and Llama models (as LlamaForCausalLM), "
            f"not a {type(model).__name__}; use format=safetensors"
        )
    with atomic_path(out / "model.safetensors") as tmp:
        save_file(state, str(tmp), {"format": "pt"})
    if eos_id is not None:
        config["eos_token_id"] = eos_id
        write_json(out / "generation_config.json", {"eos_token_id": eos_id})
    write_json(out / "config.json", config)


def _export_causal_lm(fmt: str, model: Any, checkpoint: dict[str, Any], out: Path) -> None:
    """hf: a merged Hugging Face folder; adapter: the peft adapter; safetensors: tuneforge's."""
    from tuneforge.finetune import merge_lora
    from tuneforge.run.llm_export import write_adapter, write_hf_folder

    if fmt == "hf":
        _log_check("hf", write_hf_folder(model, stored_chat_template(checkpoint), out))
    elif fmt == "adapter":
        finetune = checkpoint[CHECKPOINT_KEY]["config"].get("finetune") or {}
        _log_check("adapter", write_adapter(model, finetune, out))
    elif fmt == "safetensors":
        merge_lora(model)
        _export_safetensors(model, checkpoint, out)
    else:
        raise ConfigError(
            f"format={fmt} is not written for a causal LM; use format=hf (transformers and "
            "optimum take it from there), adapter or safetensors"
        )


def _log_check(fmt: str, difference: float | None) -> None:
    if difference is None:
        log.info("%s export not checked against the model: pip install onnxruntime for that", fmt)
    else:
        log.info("%s export checked: outputs within %.1e of the model's", fmt, difference)


def run(cfg: DictConfig, run_dir: Path) -> Path:
    """Write the export into the run folder; return it."""
    trust = trust_flag(cfg)  # validates the whole config too
    if cfg.format not in FORMATS:
        raise ConfigError(
            f"format={cfg.format!r} is not valid; choose one of: {', '.join(FORMATS)}"
        )
    from tuneforge.run.export_formats import write_onnx, write_torchscript

    path = checkpoint_file(cfg.ckpt_path)
    checkpoint = read_checkpoint(path)
    model = trained_model(checkpoint, path, trust, cfg, run_dir).eval()
    if hasattr(model, "hf_model"):  # a pretrained causal LM: Hugging Face's own formats
        _export_causal_lm(cfg.format, model, checkpoint, run_dir)
        log.info("%s export of %s written to %s", cfg.format, path, run_dir)
        return run_dir
    if cfg.format == "adapter":
        raise ConfigError(
            "format=adapter writes a causal LM's LoRA adapter for peft; this checkpoint holds a "
            f"{type(model).__name__}: use format=safetensors"
        )
    from tuneforge.finetune import merge_lora

    merged = merge_lora(model)
    if merged:
        log.info("LoRA adapters of %d layers merged into their weights", len(merged))
    spec = checkpoint[CHECKPOINT_KEY]["data_spec"]  # trained_model() made sure it is there
    eos_id = spec.get("eos_id")  # text_corpus's end of document; None for other data
    if cfg.format == "hf":
        _export_hf(model, run_dir, eos_id)
    elif cfg.format == "onnx":
        _log_check("onnx", write_onnx(model, spec, run_dir / "model.onnx"))
    elif cfg.format == "torchscript":
        _log_check("torchscript", write_torchscript(model, spec, run_dir / "model.torchscript.pt"))
    else:
        _export_safetensors(model, checkpoint, run_dir)
    _write_tokenizer(stored_tokenizer(checkpoint), run_dir, cfg.format == "hf", eos_id)
    log.info("%s export of %s written to %s", cfg.format, path, run_dir)
    return run_dir
