"""A pretrained Hugging Face causal language model (Llama, Qwen, Mistral, GPT-2, SmolLM, ...).

The weights load straight through `AutoModelForCausalLM.from_pretrained(local_files_only=True)`,
not through `finetune.checkpoint`, which would hold a second copy of them in memory. A folder's
own Python code never runs: `trust_remote_code` is always False, so a folder whose architecture
transformers does not ship is refused, and a known one's `auto_map` is ignored.

A GGUF file (`gguf_file=NAME` inside `path`) is dequantized by transformers to float32 once, which
takes tens of seconds, and saved as a plain safetensors folder with its tokenizer and chat
template; later loads read that folder in about a second. The folder is keyed by the GGUF's
sha256, so a changed file converts again, and it is written under a temporary name and renamed
when complete, so an interrupted conversion never leaves a folder that looks finished. It lies
beside the GGUF in `.tuneforge-cache/` where that folder is writable, else under
`$XDG_CACHE_HOME/tuneforge/gguf/` (`~/.cache/...`), or under `gguf_cache_dir` when one is given;
a conversion already made in any of those places is read from there.

With `quantization` (QLoRA, `finetune=qlora`), bitsandbytes stores every Linear layer of the
base in 4 bits (NF4 or FP4, with double quantization) and computes in `compute_dtype`; peft's
`prepare_model_for_kbit_training` then freezes the base and keeps its norms and embeddings in
float32, as the QLoRA paper does. Only LoRA's adapters can train on such a base.

`forward` returns the logits only: the task computes the loss (token-weighted over a whole
optimizer step, labels ignored at -100), which transformers' own per-batch mean loss is not.
"""

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from tuneforge.caches import user_cache_dir
from tuneforge.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
QUANT_TYPES = ("nf4", "fp4")  # bitsandbytes' 4-bit formats: NormalFloat (QLoRA's) and float
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
CACHE_RECORD = "tuneforge-gguf.json"  # written last: a cache folder holding it is complete


@dataclass(frozen=True)
class GGUFCache:
    """Where a GGUF's conversion lies, and whether this load made it.

    Attributes:
        folder: the safetensors folder (config, weights, tokenizer, chat template).
        sha256: the GGUF file's hash, which names the folder.
        converted_now: True when this load converted the GGUF; False when it read the cache.
    """

    folder: Path
    sha256: str
    converted_now: bool


class HFCausalLM(nn.Module):
    """A local Hugging Face causal LM, loaded in eval mode as transformers loads it.

    Args:
        path: a Hugging Face model folder (config.json and model.safetensors, or sharded
            safetensors with their index), or the folder holding `gguf_file`.
        gguf_file: a GGUF file's name inside `path`, converted once to a cached folder.
        dtype: of the weights: float32, bfloat16, float16, or auto (the folder's config says).
        attn_implementation: sdpa (default), eager, or any other transformers offers the model.
        gradient_checkpointing: recompute each layer's activations in the backward pass (about
            30 % less memory for about 1.4x the step); non-reentrant, so gradients are exact.
        gguf_cache_dir: where GGUF conversions go; None: beside the GGUF, else the user's cache.
        quantization: nf4 or fp4 to store the base's Linear layers in 4 bits (bitsandbytes);
            None: in `dtype`. On a CUDA machine the base loads onto this process's GPU.
        double_quantization: quantize the 4-bit blocks' scales too (about 0.4 bit per weight).
        compute_dtype: what the 4-bit layers compute in: float32, bfloat16 or float16.
    """

    def __init__(
        self,
        path: str,
        gguf_file: str | None = None,
        dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32",
        attn_implementation: str = "sdpa",
        gradient_checkpointing: bool = False,
        gguf_cache_dir: str | None = None,
        quantization: Literal["nf4", "fp4"] | None = None,
        double_quantization: bool = True,
        compute_dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16",
    ) -> None:
        super().__init__()
        if dtype != "auto" and dtype not in DTYPES:
            raise ConfigError(
                f"model.dtype={dtype!r} is not valid; choose one of: {', '.join(DTYPES)}, auto"
            )
        quantized = _quantized_loading(quantization, double_quantization, compute_dtype)
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"model.path={path} is not a folder; point it at a Hugging Face model folder "
                "(config.json and model.safetensors)"
            )
        self.gguf_cache: GGUFCache | None = None
        if gguf_file is not None:
            self.gguf_cache = gguf_cached_folder(folder, gguf_file, gguf_cache_dir)
            folder = self.gguf_cache.folder
        self.source = folder
        self.hf_model = _load(folder, DTYPES.get(dtype, "auto"), attn_implementation, quantized)
        self.quantization = quantization
        if quantization is not None:
            from peft import prepare_model_for_kbit_training

            prepare_model_for_kbit_training(self.hf_model, use_gradient_checkpointing=False)
        if gradient_checkpointing:
            if not self.hf_model.supports_gradient_checkpointing:
                raise ConfigError(
                    f"model.gradient_checkpointing=true: {type(self.hf_model).__name__} does not "
                    "support it in transformers; set model.gradient_checkpointing=false"
                )
            self.hf_model.activation_checkpointing_enable({"use_reentrant": False})
        self.eval()

    @property
    def config(self) -> Any:
        """The transformers config (vocab_size, max_position_embeddings, token ids, ...)."""
        return self.hf_model.config

    @cached_property
    def tokenizer(self) -> Any:
        """The folder's tokenizer (a GGUF's: the one converted with it), with its chat template."""
        from transformers import AutoTokenizer

        if not any((self.source / name).is_file() for name in TOKENIZER_FILES):
            raise ConfigError(
                f"model.path={self.source} holds no tokenizer ({', '.join(TOKENIZER_FILES)}); "
                "copy the model's tokenizer files into that folder"
            )
        return AutoTokenizer.from_pretrained(
            self.source, local_files_only=True, trust_remote_code=False
        )

    pretrained = True  # its weights come from `path`: fine-tuning needs no finetune.checkpoint

    @cached_property
    def weights_sha256(self) -> str:
        """A hash of the base weights as loaded: the GGUF's sha256, else one over the folder's
        safetensors files. A run that keeps only adapters records it, and a rebuilt run refuses a
        base whose hash differs (its adapters were trained on other weights)."""
        if self.gguf_cache is not None:
            return self.gguf_cache.sha256
        digest = hashlib.sha256()
        for file in sorted(self.source.glob("*.safetensors")):
            digest.update(file.name.encode() + b"\0" + _sha256(file).encode())
        return digest.hexdigest()

    def get_classifier(self) -> None:
        """None: the output layer projects onto the vocabulary and is no classifier head, so
        LoRA adapts around it and leaves it frozen (a tied one is the token embedding anyway)."""
        return None

    def group_matcher(self, coarse: bool = False) -> dict[str, str | list]:
        """Regexes grouping parameter names from input to output (timm's convention): the token
        embedding, each decoder layer, then the final norm and output layer. `finetune=freeze
        finetune.freeze_groups=N` freezes the embedding and the first N-1 layers."""
        del coarse  # one group per layer either way
        return {
            "stem": r"^hf_model\.(?:model\.embed_tokens|transformer\.(?:wte|wpe))\.",
            "blocks": [
                (r"^hf_model\.(?:model\.layers|transformer\.h)\.(\d+)\.", None),
                (r"^hf_model\.", (99999,)),
            ],
        }

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Next-token logits (B, T, vocab) for ids (B, T).

        No key/value cache is kept: with one, packed rows (several documents, `position_ids`
        restarting at each, `attention_mask=None`) silently attend across documents.
        """
        return self.hf_model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        ).logits

    def generate(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """transformers' `generate` (KV cache, greedy or sampled, stop tokens) on this model."""
        return self.hf_model.generate(*args, **kwargs)


def _quantized_loading(
    quantization: str | None, double_quantization: bool, compute_dtype: str
) -> dict[str, Any]:
    """`from_pretrained`'s arguments for a 4-bit base (none without `quantization`).

    Raises:
        ConfigError: for an unknown format or compute dtype, or without bitsandbytes.
    """
    if quantization is None:
        return {}
    if quantization not in QUANT_TYPES:
        raise ConfigError(
            f"quantization={quantization!r} is not a 4-bit format bitsandbytes has; choose one "
            f"of: {', '.join(QUANT_TYPES)}"
        )
    if compute_dtype not in DTYPES:
        raise ConfigError(
            f"compute_dtype={compute_dtype!r} is not valid; choose one of: {', '.join(DTYPES)}"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(
            f"quantization={quantization} stores the base in 4 bits through bitsandbytes, which "
            "is not installed; pip install bitsandbytes"
        )
    from transformers import BitsAndBytesConfig

    # One process per GPU: each loads its copy onto its own (LOCAL_RANK, as DDP sets it).
    device = int(os.environ.get("LOCAL_RANK", 0)) if torch.cuda.is_available() else "cpu"
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quantization,
            bnb_4bit_use_double_quant=double_quantization,
            bnb_4bit_compute_dtype=DTYPES[compute_dtype],
        ),
        "device_map": {"": device},
    }


def _load(
    folder: Path,
    dtype: torch.dtype | str,
    attn_implementation: str,
    quantized: dict[str, Any] | None = None,
) -> nn.Module:
    """The causal LM in `folder` (in 4 bits with `quantized`, `_quantized_loading`'s arguments),
    refused in one line when the folder does not hold one."""
    from transformers import AutoModelForCausalLM

    config = _causal_lm_config(folder)
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        ggufs = sorted(p.name for p in folder.glob("*.gguf"))
        fix = f"name one with model.gguf_file={ggufs[0]}" if ggufs else "save the weights there"
        raise CheckpointError(
            f"model.path={folder} holds no weights (model.safetensors, or shards with "
            f"model.safetensors.index.json); {fix}"
        )
    try:
        return AutoModelForCausalLM.from_pretrained(
            folder,
            config=config,
            local_files_only=True,
            trust_remote_code=False,
            dtype=dtype,
            attn_implementation=attn_implementation,
            **(quantized or {}),
        )
    except ValueError as error:  # e.g. an attention implementation the model lacks
        raise ConfigError(f"model.path={folder}: {_first_line(error)}") from error
    except OSError as error:  # a truncated or unreadable weights file
        raise CheckpointError(
            f"model.path={folder}: its weights cannot be read ({_first_line(error)}); "
            "save them again"
        ) from error


def _causal_lm_config(folder: Path) -> Any:
    """The folder's transformers config, checked to be one of transformers' own causal LMs."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"model.path={folder} holds no config.json; point model.path at a Hugging Face model "
            "folder (config.json and model.safetensors), or name a GGUF there with model.gguf_file"
        )
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as error:
        raise ConfigError(f"model.path={folder}: config.json is not a JSON object") from error
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ConfigError(
            f"model.path={folder}: model_type={model_type!r} in config.json is not a causal LM "
            "that transformers ships (tuneforge never runs a model folder's own code); use a "
            "folder of e.g. llama, qwen2, mistral, gpt2"
        )
    return AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)


def gguf_cached_folder(folder: Path, gguf_file: str, cache_dir: str | None = None) -> GGUFCache:
    """The safetensors folder converted from `folder/gguf_file`, converting it on first use.

    Args:
        folder: the folder holding the GGUF (`model.path`).
        gguf_file: the GGUF's file name in it.
        cache_dir: where conversions go; None: beside the GGUF if writable, else the user's cache.
    """
    gguf = folder / gguf_file
    if not gguf.is_file():
        found = ", ".join(sorted(p.name for p in folder.glob("*.gguf"))) or "none"
        raise ConfigError(
            f"model.gguf_file={gguf_file} is not a file in model.path={folder} "
            f"(GGUF files there: {found})"
        )
    start = time.perf_counter()
    sha256 = _sha256(gguf)
    name = f"{gguf.stem}-{sha256[:16]}"
    for root in (folder / ".tuneforge-cache", user_cache_dir("gguf"), cache_dir):
        found = Path(root).expanduser() / name if root is not None else None
        if found is not None and (found / CACHE_RECORD).is_file():
            log.info("%s: reading its converted copy %s", gguf.name, found)
            return GGUFCache(found, sha256, converted_now=False)
    cached = _cache_root(folder, cache_dir) / name
    log.info("%s: converting to safetensors once (dequantized to float32) into %s", gguf, cached)
    _convert(gguf, sha256, cached)
    log.info("%s: converted in %.1f s", gguf.name, time.perf_counter() - start)
    return GGUFCache(cached, sha256, converted_now=True)


def _cache_root(folder: Path, cache_dir: str | None) -> Path:
    """`cache_dir`, else `.tuneforge-cache` beside the GGUF if writable, else the user's cache."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    beside = folder / ".tuneforge-cache"
    if os.access(beside if beside.is_dir() else folder, os.W_OK):
        return beside
    return user_cache_dir("gguf")


def _convert(gguf: Path, sha256: str, cached: Path) -> None:
    """Dequantize `gguf` with transformers and save model and tokenizer to `cached`, atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{cached.name}.partial-", dir=cached.parent))
    try:
        try:
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, local_files_only=True, dtype=torch.float32
            )
            tokenizer = AutoTokenizer.from_pretrained(
                gguf.parent, gguf_file=gguf.name, local_files_only=True
            )
        except (ValueError, KeyError) as error:  # an architecture transformers cannot dequantize
            raise ConfigError(
                f"model.gguf_file={gguf.name}: transformers cannot convert it "
                f"({_first_line(error)}); use a GGUF of an architecture transformers lists "
                "for GGUF (llama, qwen2, mistral, gpt2, ...) or a safetensors folder"
            ) from error
        # The weights are plain float32 now; the GGUF quantizer only stops save_pretrained.
        model.hf_quantizer = None
        del model.config.quantization_config
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        del model
        record = {"gguf_file": gguf.name, "size": gguf.stat().st_size, "sha256": sha256}
        (partial / CACHE_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        try:
            partial.rename(cached)
        except OSError:
            if not (cached / CACHE_RECORD).is_file():
                raise
            shutil.rmtree(partial)  # another process finished the same conversion first
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _sha256(file: Path) -> str:
    """The file's sha256, read in 1 MiB chunks (hashlib.file_digest needs Python 3.11)."""
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    """An exception's message, first line only (library messages run to paragraphs)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
